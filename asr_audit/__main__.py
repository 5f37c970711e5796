from asr_audit.cli import main

raise SystemExit(main())
