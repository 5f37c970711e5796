from asr_audit.app.cli import main

raise SystemExit(main())
