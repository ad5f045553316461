from ops_postmortem.cli import main

raise SystemExit(main())
