"""`python -m engine.cli`: the same as the `neurosphere` command."""

from engine.cli import main

raise SystemExit(main())
