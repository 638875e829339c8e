"""Developer tool: rewrite the initial revision from the models (``python -m opsloom.platform.migrations.regenerate``).

Until the first release the platform has a single initial revision; after it, add new
revisions with ``alembic revision --autogenerate`` instead of regenerating.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from opsloom.platform.migrations import HERE, alembic_config

REVISION = "0001_initial"


def main() -> None:
    target = HERE / "versions" / f"{REVISION}.py"
    target.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'empty.db'}"
        cfg = alembic_config(url)
        cfg.set_main_option("file_template", "%%(rev)s")
        command.revision(cfg, message="initial platform tables", autogenerate=True, rev_id=REVISION)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
