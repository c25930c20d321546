import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "lib"))

from gwsync_fixtures import api, db, operator_key, template_db  # noqa: E402,F401 (fixtures)
