-- Google as the identity source, the scheduled import's bookkeeping, and the adoption of imported
-- users by the platform's later user.created.

-- identity_source: who owns email, names and suspension of linked users (issue 14, item 4).
-- import_last_run_at: when the scheduler last queued a scheduled import_users job; the next one
-- is due an interval later (counted from that queue time, never from a failure). The scheduler
-- keeps import_next_run_at equal to that due time (NULL while the schedule is off or the
-- integration not active) so the integration resource can show it. Both are written only by the
-- scheduler, without an actor: not audited, never a settings change that queues an export.
ALTER TABLE integrations
	ADD COLUMN identity_source text NOT NULL DEFAULT 'directory'
		CHECK (identity_source IN ('directory', 'google')),
	ADD COLUMN import_last_run_at timestamptz,
	ADD COLUMN import_next_run_at timestamptz;

-- Adoption: an imported user (id 'google:<Google id>') takes the platform's id when the platform
-- sends user.created with the same email. Its bindings, group memberships and the manager
-- references of its reports follow the new id by cascade; user links (no foreign key: they
-- outlive a deleted user) are moved by the store in the same transaction.
ALTER TABLE user_bindings
	DROP CONSTRAINT user_bindings_tenant_id_user_id_fkey,
	ADD CONSTRAINT user_bindings_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id)
		REFERENCES directory_users (tenant_id, id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE group_members
	DROP CONSTRAINT group_members_tenant_id_user_id_fkey,
	ADD CONSTRAINT group_members_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id)
		REFERENCES directory_users (tenant_id, id) ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE directory_users
	DROP CONSTRAINT directory_users_tenant_id_manager_id_fkey,
	ADD CONSTRAINT directory_users_tenant_id_manager_id_fkey FOREIGN KEY (tenant_id, manager_id)
		REFERENCES directory_users (tenant_id, id) ON DELETE SET NULL (manager_id)
		ON UPDATE CASCADE;

