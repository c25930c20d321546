#!/usr/bin/python3
"""A realistic company for gwsync, generated deterministically from a seed (Python stdlib only).

    tests/company/company.py [--seed 1] [--users 2000] [--out DIR]

writes DIR/google.json (the Google account as an emulator state: `POST _emulator/seed/account`
with `{"fixture": state}`), DIR/directory.json (what the platform holds: people, groups,
bindings, password forms, who is locked) and DIR/expected.json (the end state one full sync must
reach: every directory person's outcome, the Google users that must stay untouched, each managed
group's members, the import preview's match states). Same seed and size, same files, byte for
byte. `generate(seed, users)` returns the three documents to a Python caller (deploy/local/demo,
tests/e2e/test_company.py, tests/bench/company).

The shape, for --users N (N = 2,000 gives the figures of issue 16):
  Google: ~0.75 N users on the primary domain (example.com, the emulator's default, whose super
  admin admin@ exists already) and eu.example.com (verified), acquired.example unverified; an
  alias on ~10 %; ~2 % suspended (two of them for abuse), ~0.7 % archived; 3 super admins (admin@
  plus two) and 2 delegated admins, one of them (`AUTHORIZER`) the admin the integration is
  authorized as, so every admin user is protected; ~0.075 N groups (one per department, projects,
  all-staff@ with a CUSTOMER entry, a few Google-only) with an OWNER and a MANAGER; work, mobile
  and home phones, work and home addresses (apostrophes), non-ASCII names (accents, CJK).
  Directory: N people: most match a Google user by primary address (some with a new title, phone
  or name), some only by an alias (taken over, then renamed to the directory's address), ~20 %
  new, some staged, suspended or locked, some on a domain the integration does not allow
  (rewritten to the default domain), a few whose names or usernames break Google's rules, two
  people matching one Google user (a conflict on both), the admins; ~0.06 N groups bound to the
  integration (a department group for nearly everyone, projects), a few people bound directly and
  some not at all. Passwords come in the forms the platform sends: clear text, SHA-1 and MD5 hex,
  SHA-512 crypt; a few active people have none yet.
The integration (see INTEGRATION): both verified domains allowed, example.com the default, group
management on (additive), job title, department, work and mobile phones and work addresses
exported besides names, email, password and state.
"""
import argparse
import hashlib
import json
import os
import random
import sys
import unicodedata

PRIMARY = "example.com"
SECOND = "eu.example.com"
UNVERIFIED = "acquired.example"
FOREIGN = "partners.example.org"  # a directory domain the integration does not allow
AUTHORIZER = "it.delegate@example.com"  # delegated admin the integration is authorized as
PASSWORD = "Company-Passw0rd"  # every generated password form hides this one

INTEGRATION = {
    "settings": {"group_management": True, "group_membership": "additive", "default_domain": PRIMARY},
    "domains": [PRIMARY, SECOND],
    # PUT attribute-rules replaces the whole set: password and state (exported by default) named too
    "rules": {"password": "export", "state": "export", "job_title": "export", "department": "export",
              "work_phones": "export",
              "mobile_phones": "export", "work_addresses": "export"},
}

GIVEN = [("Olivia", "olivia"), ("Liam", "liam"), ("José", "jose"), ("Zoë", "zoe"), ("Søren", "soren"),
         ("Łukasz", "lukasz"), ("Amelia", "amelia"), ("Noah", "noah"), ("Yuki", "yuki"), ("Fatima", "fatima"),
         ("Inès", "ines"), ("Jonas", "jonas"), ("Omar", "omar"), ("Freya", "freya"), ("Ravi", "ravi"),
         ("Aiko", "aiko"), ("Seán", "sean"), ("Chloé", "chloe"), ("Mateo", "mateo"), ("Leila", "leila"),
         ("Björn", "bjorn"), ("Siobhán", "siobhan"), ("François", "francois"), ("Priya", "priya"),
         ("Dmitri", "dmitri"), ("Ana", "ana"), ("Wei", "wei"), ("Emma", "emma"), ("Kwame", "kwame"),
         ("Nikolai", "nikolai"), ("太郎", "taro"), ("美咲", "misaki"), ("민준", "minjun"), ("Ingrid", "ingrid")]
FAMILY = [("Smith", "smith"), ("García", "garcia"), ("Müller", "muller"), ("O'Brien", "obrien"),
          ("Nguyễn", "nguyen"), ("Patel", "patel"), ("Tanaka", "tanaka"), ("Novák", "novak"),
          ("Jensen", "jensen"), ("Khan", "khan"), ("López", "lopez"), ("Dubois", "dubois"), ("Rossi", "rossi"),
          ("Kowalski", "kowalski"), ("Haddad", "haddad"), ("Ivanova", "ivanova"), ("Walsh", "walsh"),
          ("D'Angelo", "dangelo"), ("Øvergaard", "overgaard"), ("Žukauskas", "zukauskas"),
          ("Okafor", "okafor"), ("Schäfer", "schafer"), ("山田", "yamada"), ("佐藤", "sato"), ("王", "wang"),
          ("김", "kim"), ("Andersson", "andersson"), ("MacLeod", "macleod"), ("Ó Súilleabháin", "osullivan")]
DEPTS = ["Engineering", "Sales", "Marketing", "Finance", "Support", "Operations", "Legal", "People",
         "Product", "Design", "Research", "IT"]
TITLES = ["Specialist", "Senior Specialist", "Manager", "Analyst", "Engineer", "Lead", "Associate",
          "Director", "Coordinator", "Consultant"]
STREETS = ["12 Saint Mary's Road", "3 rue de l'Église", "Via dell'Orso 5", "40 O'Connell Street",
           "7 King's Parade", "221 Baker Street", "Hauptstraße 9", "1-2-3 Shibuya", "18 Queen's Gate",
           "5 Chemin de l'Étang"]
CITIES = [("London", "GB", "SW1A 1AA"), ("Paris", "FR", "75001"), ("Roma", "IT", "00186"),
          ("Dublin", "IE", "D01 F5P2"), ("Berlin", "DE", "10115"), ("Tokyo", "JP", "150-0002"),
          ("Cambridge", "GB", "CB2 1TN"), ("Lyon", "FR", "69002")]
PROJECTS = ["apollo", "borealis", "cobalt", "delta", "ember", "falcon", "granite", "helix", "iris",
            "juniper", "kestrel", "lumen", "monsoon", "nebula", "orchid", "pulsar", "quartz", "rivet",
            "sierra", "tundra", "umbra", "vertex", "willow", "xenon", "yarrow", "zephyr"]


def ascii_fold(s):
    return "".join(c for c in unicodedata.normalize("NFKD", s) if c.isascii() and (c.isalnum() or c in ".-"))


def google_id(seed, i):
    """A 21-digit id as Google gives them, deterministic per seed and index."""
    return str(100000000000000000000 + (seed * 7919 + i * 104729) % 899999999999999999999)


def group_id(seed, i):
    return "0" + hashlib.sha256(f"group-{seed}-{i}".encode()).hexdigest()[:14]


def _crypt(password, salt):
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import crypt
        return crypt.crypt(password, "$6$" + salt)
    except ImportError:  # Python without the crypt module: that form is sent as clear text instead
        return None


def password_form(rnd, i):
    """The forms the platform sends (POST /v1/users/{id}/password); each hides PASSWORD."""
    k = rnd.random()
    if k < 0.40:
        return {"password": PASSWORD}
    if k < 0.65:
        return {"hash": hashlib.sha1(PASSWORD.encode()).hexdigest(), "hash_function": "SHA-1"}
    if k < 0.80:
        return {"hash": hashlib.md5(PASSWORD.encode()).hexdigest().upper(), "hash_function": "MD5"}
    h = _crypt(PASSWORD, f"s{i:07d}"[-16:])
    return {"hash": h, "hash_function": "crypt"} if h else {"password": PASSWORD}


def phones_of(rnd, i):
    out = []
    if rnd.random() < 0.7:
        out.append({"type": "work", "value": f"+44 20 7946 {i % 10000:04d}"})
    if rnd.random() < 0.4:
        out.append({"type": "mobile", "value": f"+1 415 555 {(i * 7) % 10000:04d}"})
    if rnd.random() < 0.15:
        out.append({"type": "home", "value": f"+33 1 40 20 {(i * 3) % 100:02d} {(i * 11) % 100:02d}"})
    return out


def addresses_of(rnd):
    out = []
    if rnd.random() < 0.35:
        city, country, postal = rnd.choice(CITIES)
        out.append({"type": "work", "streetAddress": rnd.choice(STREETS), "locality": city,
                    "postalCode": postal, "country": country})
    if rnd.random() < 0.1:
        city, country, postal = rnd.choice(CITIES)
        out.append({"type": "home", "streetAddress": rnd.choice(STREETS), "locality": city,
                    "postalCode": postal, "country": country})
    return out


def dir_phones(g_phones):
    return [{"type": p["type"], "value": p["value"]} for p in g_phones if p["type"] in ("work", "mobile")]


def dir_addresses(g_addresses):
    return [{"type": "work", "street_address": a["streetAddress"], "locality": a["locality"],
             "postal_code": a["postalCode"], "country": a["country"]} for a in g_addresses if a["type"] == "work"]


def scaled(n, fraction, least=1):
    return max(least, int(round(n * fraction)))


def generate(seed=1, users=2000):
    if users < 100:
        raise ValueError("a company has at least 100 people")
    rnd = random.Random(f"gwsync-company-{seed}-{users}")
    n_google = int(round(users * 0.75))
    taken = {"admin@" + PRIMARY}

    def address(given_ascii, family_ascii, domain):
        base = f"{given_ascii}.{family_ascii}"
        local, k = base, 1
        while f"{local}@{domain}" in taken or f"{local}@{PRIMARY}" in taken or f"{local}@{SECOND}" in taken:
            k += 1
            local = f"{base}{k}"
        taken.add(f"{local}@{domain}")
        return f"{local}@{domain}"

    # ------------------------------------------------------------ Google users
    gusers = []  # fixture users, with a "_" dict of generator notes removed before writing

    def new_guser(i, domain, given=None, family=None, local=None):
        g = given or rnd.choice(GIVEN)
        f = family or rnd.choice(FAMILY)
        email = f"{local}@{domain}" if local else address(g[1], f[1], domain)
        taken.add(email)
        dept = rnd.choice(DEPTS)
        u = {"id": google_id(seed, i), "primaryEmail": email, "name": {"givenName": g[0], "familyName": f[0]},
             "password": f"Initial-{seed}-{i}", "orgUnitPath": "/" + dept,
             "organizations": [{"title": rnd.choice(TITLES), "department": dept, "primary": True}],
             "externalIds": [{"type": "organization", "value": f"emp-{seed}-{i:06d}"}]}
        ph = phones_of(rnd, i)
        if ph:
            u["phones"] = ph
        ad = addresses_of(rnd)
        if ad:
            u["addresses"] = ad
        gusers.append(u)
        return u

    admins = []
    for k, (g, f, local, super_admin) in enumerate([
            (("Margaret", "margaret"), ("O'Neill", "oneill"), "margaret.oneill", True),
            (("Kenji", "kenji"), ("佐藤", "sato"), "kenji.sato", True),
            (("Helpdesk", "helpdesk"), ("Lead", "lead"), "helpdesk.lead", False),
            (("IT", "it"), ("Delegate", "delegate"), "it.delegate", False)]):
        u = new_guser(k, PRIMARY, g, f, local)
        if super_admin:
            u["isAdmin"] = True
        else:
            u["privileges"] = ["users", "groups", "domains", "customer"]
        admins.append(u)
    assert admins[3]["primaryEmail"] == AUTHORIZER
    for i in range(len(gusers), n_google):
        new_guser(i, SECOND if rnd.random() < 0.2 else PRIMARY)
    regular = gusers[len(admins):]
    for u in regular:
        if rnd.random() < 0.10:
            local, dom = u["primaryEmail"].split("@")
            g, f = local.split(".", 1)
            alias = f"{g[0]}.{f}@{dom}"
            if alias in taken:
                alias = f"{local}@{SECOND if dom == PRIMARY else PRIMARY}"
            if alias not in taken:
                taken.add(alias)
                u["aliases"] = [alias]
    pool = list(regular)
    rnd.shuffle(pool)
    n_susp, n_arch = scaled(n_google, 0.02, 3), scaled(n_google, 1 / 150, 1)
    g_suspended = pool[:n_susp]
    g_archived = pool[n_susp:n_susp + n_arch]
    for k, u in enumerate(g_suspended):
        u["suspended"] = True
        u["suspensionReason"] = "ABUSE" if k < 2 else "ADMIN"
        u["orgUnitPath"] = "/Leavers"
    for u in g_archived:
        u["archived"] = True
        u["orgUnitPath"] = "/Leavers"
    rest = pool[n_susp + n_arch:]  # active, ordinary Google users

    # ------------------------------------------------------------ directory people
    people = []  # directory users, with "_expect" notes

    def person(uid, email, given, family, state="active", g=None, password=True, **more):
        p = {"id": uid, "email": email, "first_name": given, "last_name": family, "state": state}
        if g is not None:  # the same person as Google holds, some attributes edited below
            org = g["organizations"][0]
            p.update(job_title=org["title"], department=org["department"],
                     phones=dir_phones(g.get("phones", [])), addresses=dir_addresses(g.get("addresses", [])))
        else:
            p.update(job_title=rnd.choice(TITLES), department=rnd.choice(DEPTS),
                     phones=[{"type": "work", "value": f"+44 20 7946 {len(people) % 10000:04d}"}])
        p.update(more)
        p["_password"] = password_form(rnd, len(people)) if password else None
        p["_locked"] = False
        people.append(p)
        return p

    def pid():
        return f"u{len(people) + 1:06d}"

    # admins: every one a directory person with a changed title (protected: never written)
    for u in admins + [{"primaryEmail": "admin@" + PRIMARY, "name": {"givenName": "Admin", "familyName": "User"},
                        "organizations": [{"title": "Administrator", "department": "IT"}]}]:
        p = person(pid(), u["primaryEmail"], u["name"]["givenName"], u["name"]["familyName"], g=u)
        p["job_title"] = "Chief " + p["job_title"]
        p["_expect"] = {"outcome": "skipped", "reason": "protected_admin", "google": u["primaryEmail"]}

    n_alias_only = scaled(users, 0.02, 2)
    n_unmatched_google = scaled(n_google, 0.04, 2)
    n_conflict_pairs = scaled(users, 0.0005, 1)
    n_staged_m, n_susp_m, n_locked_m = scaled(users, 0.01, 1), scaled(users, 0.008, 1), scaled(users, 0.004, 1)
    n_rule_m = 1
    # the suspended Google users: half left the company (no directory person), half are in the
    # directory as suspended people (taken over, stay suspended; nothing to write)
    for u in g_suspended[::2]:
        p = person(pid(), u["primaryEmail"], u["name"]["givenName"], u["name"]["familyName"], state="suspended", g=u)
        p["_expect"] = {"outcome": "linked", "google": u["primaryEmail"], "suspended": True}
    with_alias = [u for u in rest if u.get("aliases")]
    alias_only = with_alias[:n_alias_only]
    conflict_g = with_alias[n_alias_only:n_alias_only + n_conflict_pairs]
    others = [u for u in rest if u not in alias_only and u not in conflict_g]
    unmatched = others[:n_unmatched_google]  # service mailboxes and such: never touched
    matched = others[n_unmatched_google:]
    for u in alias_only:  # the directory knows only the alias: taken over, renamed to it
        p = person(pid(), u["aliases"][0], u["name"]["givenName"], u["name"]["familyName"], g=u)
        p["_expect"] = {"outcome": "linked", "google": u["primaryEmail"], "primary": u["aliases"][0],
                        "old_alias": u["primaryEmail"]}
    for u in conflict_g:  # two people: one by the primary address, one by the alias
        for email in (u["primaryEmail"], u["aliases"][0]):
            p = person(pid(), email, u["name"]["givenName"], u["name"]["familyName"], g=u)
            p["_expect"] = {"outcome": "conflict", "reason": "several_directory_users", "google": u["primaryEmail"]}
    k = 0
    for u in matched:
        p = person(pid(), u["primaryEmail"], u["name"]["givenName"], u["name"]["familyName"], g=u)
        e = {"outcome": "linked", "google": u["primaryEmail"]}
        if k < n_staged_m:
            p["state"] = "staged"
            e["staged"] = True
        elif k < n_staged_m + n_susp_m:
            p["state"] = "suspended"
            e["suspended"] = True
        elif k < n_staged_m + n_susp_m + n_locked_m:
            p["_locked"] = True
            e["suspended"] = True
        elif k < n_staged_m + n_susp_m + n_locked_m + n_rule_m:
            p["first_name"] = p["first_name"] + " <" + "x" * 3 + ">"
            e = {"outcome": "failed", "reason": "invalid_name", "google": u["primaryEmail"]}
        else:
            r = rnd.random()
            if r < 0.08:
                p["job_title"] = "Senior " + p["job_title"]
            elif r < 0.11:
                p["phones"] = [{"type": "mobile", "value": f"+1 650 555 {k % 10000:04d}"}]
            elif r < 0.13:
                p["last_name"] = p["last_name"] + "-" + rnd.choice(FAMILY)[0]
            elif r < 0.14:
                p["addresses"] = [{"type": "work", "street_address": "1 Lady's Walk", "locality": "Dublin",
                                   "postal_code": "D02 X285", "country": "IE"}]
        p["_expect"] = e
        k += 1
    # people on a domain the integration does not allow: rewritten to the default domain; one
    # of them is found in Google under the rewritten address
    rewritten_g = matched[-1]
    if not rewritten_g.get("aliases") and rewritten_g["primaryEmail"].endswith("@" + PRIMARY):
        local = rewritten_g["primaryEmail"].split("@")[0]
        # that Google user is now the rewritten match, not a primary match
        people[:] = [p for p in people if p["email"] != rewritten_g["primaryEmail"]]
        p = person(pid(), f"{local}@{FOREIGN}", rewritten_g["name"]["givenName"], rewritten_g["name"]["familyName"],
                   g=rewritten_g)
        p["_expect"] = {"outcome": "linked", "google": rewritten_g["primaryEmail"]}
    n_new = users - len(people)
    n_foreign = scaled(users, 0.01, 2)
    n_staged_n, n_susp_n, n_locked_n, n_nopw = (scaled(users, 0.01, 1), scaled(users, 0.005, 1),
                                                scaled(users, 0.003, 1), scaled(users, 0.005, 1))
    rule_breakers = [("F" * 61, "Longname", None), ("Ann", "Equals=Sign", None), ("Bob", "Builder", "bob+test")]
    for k in range(n_new):
        g, f = rnd.choice(GIVEN), rnd.choice(FAMILY)
        if k < len(rule_breakers):
            given, family, local = rule_breakers[k]
            email = f"{local or ascii_fold(given.lower())[:20] + '.' + ascii_fold(family.lower())}@{PRIMARY}"
            taken.add(email)
            p = person(pid(), email, given, family)
            p["_expect"] = {"outcome": "failed", "reason": "invalid_username" if local else "invalid_name"}
            continue
        k -= len(rule_breakers)
        if k < n_foreign:
            email = address(g[1], f[1], FOREIGN)
            local = email.split("@")[0]
            want = f"{local}@{PRIMARY}"
            if want in taken:
                email = address(g[1] + "x", f[1], FOREIGN)
                want = email.split("@")[0] + "@" + PRIMARY
            taken.add(want)
            p = person(pid(), email, g[0], f[0])
            p["_expect"] = {"outcome": "created", "primary": want}
            continue
        k -= n_foreign
        email = address(g[1], f[1], SECOND if rnd.random() < 0.15 else PRIMARY)
        if k < n_staged_n:
            p = person(pid(), email, g[0], f[0], state="staged")
            p["_expect"] = {"outcome": "skipped", "reason": "staged"}
        elif k < n_staged_n + n_susp_n:
            p = person(pid(), email, g[0], f[0], state="suspended")
            p["_expect"] = {"outcome": "skipped", "reason": "not_active"}
        elif k < n_staged_n + n_susp_n + n_locked_n:
            p = person(pid(), email, g[0], f[0])
            p["_locked"] = True
            p["_expect"] = {"outcome": "skipped", "reason": "not_active"}
        elif k < n_staged_n + n_susp_n + n_locked_n + n_nopw:
            p = person(pid(), email, g[0], f[0], password=False)
            p["_expect"] = {"outcome": "skipped", "reason": "awaiting_password"}
        else:
            p = person(pid(), email, g[0], f[0])
            p["_expect"] = {"outcome": "created", "primary": email}

    # ------------------------------------------------------------ bindings: who is in scope
    by_email = {u["primaryEmail"]: u for u in gusers}
    order = list(range(len(people)))
    rnd.shuffle(order)
    protected = {i for i, p in enumerate(people) if p["_expect"].get("reason") == "protected_admin"}
    conflicts = {i for i, p in enumerate(people) if p["_expect"]["outcome"] == "conflict"}
    candidates = [i for i in order if i not in protected and i not in conflicts
                  and people[i]["_expect"]["outcome"] in ("linked", "created")
                  and not people[i]["_expect"].get("suspended") and not people[i]["_expect"].get("staged")]
    n_unbound, n_direct = scaled(users, 0.03, 2), scaled(users, 0.01, 2)
    unbound = set(candidates[:n_unbound])
    direct = set(candidates[n_unbound:n_unbound + n_direct])
    for i in unbound:  # never touched: no link, and its Google user (if any) keeps everything
        e = people[i]["_expect"]
        people[i]["_expect"] = {"outcome": "untouched", "google": e.get("google") if e["outcome"] == "linked"
                                else None}

    # ------------------------------------------------------------ groups
    n_bound = scaled(users, 0.06, len(DEPTS) + 2)
    n_ggroups = scaled(users, 0.075, n_bound + 4)
    dept_of = {}
    for i, p in enumerate(people):
        dept_of[i] = p["department"] or DEPTS[0]
    groups = []  # Google groups (fixture form) and directory groups, built together

    def gmember(u, role="MEMBER"):
        return {"email": u["primaryEmail"], "role": role, "type": "USER"}

    google_of = {}
    for i, p in enumerate(people):
        e = p["_expect"]
        if e.get("google") in by_email:  # (admin@ is the emulator's own, not in the fixture)
            google_of[i] = by_email[e["google"]]
    # department groups: in Google and in the directory, bound
    dgroups = []
    n_projects = n_bound - len(DEPTS) - 1
    for d in DEPTS:
        members = [i for i in range(len(people)) if dept_of[i] == d and i not in direct and i not in unbound]
        dgroups.append({"id": f"dept-{d.lower()}", "name": d, "description": f"Everyone in {d}",
                        "email": f"{d.lower()}@{PRIMARY}", "members": members, "bound": True, "google": True})
    # people without a department group because the department was edited: all in the dept lists
    # projects: a few dozen people each, some on eu., some only in the directory (created)
    scope = [i for i in range(len(people)) if i not in direct and i not in unbound]
    for k in range(n_projects):
        name = PROJECTS[k % len(PROJECTS)] + ("" if k < len(PROJECTS) else f"-{k // len(PROJECTS) + 1}")
        dom = SECOND if k % 5 == 4 else PRIMARY
        size = rnd.randint(8, 30)
        members = sorted(rnd.sample(scope, min(size, len(scope))))
        dgroups.append({"id": f"proj-{name}", "name": f"Project {name.title()}", "description": f"Project {name}",
                        "email": f"project-{name}@{dom}", "members": members, "bound": True,
                        "google": k % 8 != 3})
    # announcements@: bound, with a CUSTOMER entry in Google that stays
    dgroups.append({"id": "announce", "name": "Announcements", "description": "Company news",
                    "email": f"announcements@{PRIMARY}", "members": sorted(rnd.sample(scope, min(40, len(scope)))),
                    "bound": True, "google": True, "customer": True})
    # directory groups nobody bound: never touched
    for k in range(3):
        dgroups.append({"id": f"club-{k}", "name": f"Book club {k}", "description": "", "email": f"club-{k}@{PRIMARY}",
                        "members": sorted(rnd.sample(scope, 5)), "bound": False, "google": False})
    ggroups = []
    externals = [f"partner{k}@vendor.example" for k in range(3)]
    for gi, dg in enumerate(dgroups):
        if not dg["google"]:
            continue
        # Google's members: the directory members' Google users, minus some who joined since,
        # plus some who left since (removed by the sync when they are linked); an owner and a manager
        gm = []
        seen = set()
        for i in dg["members"]:
            u = google_of.get(i)
            if u is None or u["primaryEmail"] in seen or rnd.random() < 0.1:
                continue
            seen.add(u["primaryEmail"])
            by_alias = u.get("aliases") and rnd.random() < 0.3
            gm.append({"email": u["aliases"][0] if by_alias else u["primaryEmail"], "role": "MEMBER", "type": "USER"})
        # (only people the sync links: whether a conflict's Google user counts as linked is not
        # what this company tests)
        leavers = [google_of[i] for i in rnd.sample(scope, min(len(scope), 4)) if i in google_of
                   and i not in dg["members"] and people[i]["_expect"]["outcome"] == "linked"]
        for u in leavers[:2]:
            if u["primaryEmail"] not in seen:
                seen.add(u["primaryEmail"])
                gm.append(gmember(u))
        owner, manager = admins[gi % 2], rnd.choice(rest)
        for u, role in ((owner, "OWNER"), (manager, "MANAGER")):
            gm = [m for m in gm if m["email"] not in (u["primaryEmail"], *(u.get("aliases") or []))]
            gm.insert(0, gmember(u, role))
        if gi % 7 == 3:
            gm.append({"email": externals[gi % 3], "role": "MEMBER", "type": "EXTERNAL"})
        if dg.get("customer"):
            gm.append({"type": "CUSTOMER", "role": "MEMBER"})
        ggroups.append({"id": group_id(seed, gi), "email": dg["email"], "name": dg["name"] + " (old)",
                        "description": dg["description"], "members": gm})
    # Google-only groups: all-staff@ (CUSTOMER), and a few more nobody manages
    ggroups.append({"id": group_id(seed, 9000), "email": f"all-staff@{PRIMARY}", "name": "All staff",
                    "description": "", "members": [{"type": "CUSTOMER", "role": "MEMBER"}]})
    for k in range(n_ggroups - len(ggroups)):
        members = [gmember(u) for u in rnd.sample(rest, min(6, len(rest)))]
        ggroups.append({"id": group_id(seed, 9001 + k), "email": f"legacy-{k:03d}@{PRIMARY}",
                        "name": f"Legacy list {k}", "description": "", "members": members})

    # ------------------------------------------------------------ documents
    state = {
        "domains": [{"domainName": SECOND, "verified": True}, {"domainName": UNVERIFIED, "verified": False}],
        "orgUnits": ["/" + d for d in DEPTS] + ["/Leavers"],
        "users": gusers, "groups": ggroups,
    }
    directory = {"users": [], "groups": [], "direct_bindings": sorted(people[i]["id"] for i in direct),
                 "locked": [], "passwords": {}, "integration": INTEGRATION, "authorizer": AUTHORIZER}
    for p in people:
        d = {k: v for k, v in p.items() if not k.startswith("_")}
        d = {k: v for k, v in d.items() if v not in ([], None)}
        directory["users"].append(d)
        if p["_password"]:
            directory["passwords"][p["id"]] = p["_password"]
        if p["_locked"]:
            directory["locked"].append(p["id"])
    for dg in dgroups:
        directory["groups"].append({"id": dg["id"], "name": dg["name"], "description": dg["description"],
                                    "email": dg["email"], "members": [people[i]["id"] for i in dg["members"]],
                                    "bound": dg["bound"]})
    expected = expect(state, directory, people, dgroups, ggroups, google_of, admins)
    return state, directory, expected


def expect(state, directory, people, dgroups, ggroups, google_of, admins):
    """The end state after one full sync (and the import preview of the same account)."""
    out = {"users": {}, "untouched_google": [], "groups": {}, "group_names": {}, "group_ids": {},
           "google_user_count": None, "preview": {}}
    by_email = {u["primaryEmail"]: u for u in state["users"]}
    usable = set()  # Google ids of links that count as members (synced or suspended)
    touched = set()
    for i, p in enumerate(people):
        e = dict(p["_expect"])
        if e["outcome"] in ("linked",):
            g = by_email[e["google"]]
            e["google_id"] = g["id"]
            e.setdefault("primary", p["email"].lower() if not p["email"].endswith("@" + FOREIGN)
                         else g["primaryEmail"])
            touched.add(g["primaryEmail"])
            usable.add(g["id"])
        if e["outcome"] in ("linked", "created"):
            e.update(given=p["first_name"], family=p["last_name"], title=p.get("job_title"),
                     department=p.get("department"))
            e.setdefault("suspended", False)
            e["work_mobile_phones"] = sorted([ph["type"], ph["value"]] for ph in p.get("phones", []))
            e["work_addresses"] = sorted([a["street_address"], a["locality"], a["postal_code"], a["country"]]
                                         for a in p.get("addresses", []))
        out["users"][p["id"]] = e
    # Google users nobody may change: admins, the unmatched, the archived and suspended leavers,
    # conflicts, rule-breakers, the unbound people's
    for u in state["users"]:
        if u["primaryEmail"] not in touched:
            out["untouched_google"].append(u["primaryEmail"])
    created = sum(1 for e in out["users"].values() if e["outcome"] == "created")
    out["google_user_count"] = len(state["users"]) + 1 + created  # + the default admin@
    # groups: additive membership (README, Groups)
    gid_of_person = {}
    for i, p in enumerate(people):
        e = out["users"][p["id"]]
        if e["outcome"] == "linked":
            gid_of_person[i] = e["google_id"]
        elif e["outcome"] == "created":
            gid_of_person[i] = "new:" + e["primary"]
    alias_owner = {}
    for u in state["users"]:
        alias_owner[u["primaryEmail"]] = u["id"]
        for a in u.get("aliases", []):
            alias_owner[a] = u["id"]
    gg = {g["email"]: g for g in ggroups}
    for dg in dgroups:
        if not dg["bound"]:
            continue
        if dg["google"]:
            entries = set()
            for m in gg[dg["email"]]["members"]:
                if m.get("type") == "CUSTOMER":
                    entries.add("CUSTOMER")
                elif m.get("type") == "EXTERNAL":
                    entries.add(m["email"])
                else:
                    entries.add((alias_owner[m["email"]], m["role"]))
        else:
            entries = set()
        wanted = {gid_of_person[i] for i in dg["members"] if i in gid_of_person}
        present = {x[0] for x in entries if isinstance(x, tuple)}
        # linked users no longer members go (never OWNER/MANAGER); members linked now come in
        entries = {x for x in entries if not (isinstance(x, tuple) and x[1] == "MEMBER" and x[0] in usable
                                              and x[0] not in wanted)}
        for w in wanted - present:
            entries.add((w, "MEMBER"))
        out["group_names"][dg["email"]] = dg["name"]
        out["group_ids"][dg["email"]] = gg[dg["email"]]["id"] if dg["google"] else None
        out["groups"][dg["email"]] = sorted(x if isinstance(x, str) else f"{x[0]}|{x[1]}" for x in entries)
    # import preview (issue 14): the states nothing else can blur
    dir_emails = {p["email"].lower() for p in people}
    # a linked user matched by an alias was renamed to the directory's address: listed under it
    final_primary = {e["google_id"]: e["primary"] for e in out["users"].values()
                     if e["outcome"] == "linked"}
    for u in state["users"]:
        st = None
        if u["id"] in usable:
            st = "linked"
        elif u["primaryEmail"] in dir_emails or any(a in dir_emails for a in u.get("aliases", [])):
            st = None  # matched, or linked through a conflict: not asserted
        elif u.get("suspended") or u.get("archived"):
            st = "inactive"
        elif u.get("isAdmin") or u.get("privileges"):
            st = None
        else:
            st = "new"
        if st:
            out["preview"][final_primary.get(u["id"], u["primaryEmail"])] = st
    for i, p in enumerate(people):
        e = out["users"][p["id"]]
        if e["outcome"] == "untouched" and e.get("google"):
            out["preview"][e["google"]] = "matched"
        if e["outcome"] == "created":
            out["preview"][e["primary"]] = "linked"
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--out", default=".")
    a = ap.parse_args()
    state, directory, expected = generate(a.seed, a.users)
    os.makedirs(a.out, exist_ok=True)
    for name, doc in (("google.json", state), ("directory.json", directory), ("expected.json", expected)):
        with open(os.path.join(a.out, name), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
    c = summary(state, directory, expected)
    print(json.dumps(c, sort_keys=True))


def summary(state, directory, expected):
    out = {"google_users": len(state["users"]) + 1, "google_groups": len(state["groups"]),
           "people": len(directory["users"]), "groups_bound": sum(g["bound"] for g in directory["groups"]),
           "bound_directly": len(directory["direct_bindings"])}
    for e in expected["users"].values():
        k = e["outcome"] + (":" + e["reason"] if e.get("reason") else "")
        out[k] = out.get(k, 0) + 1
    return out


if __name__ == "__main__":
    sys.exit(main())
