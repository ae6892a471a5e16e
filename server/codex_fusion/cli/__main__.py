"""``python -m codex_fusion.cli``: the command line (the review gate's one-shot review runs this way)."""

from codex_fusion.cli.main import main

raise SystemExit(main())
