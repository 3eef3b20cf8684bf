from firmwatch.cli.main import main

raise SystemExit(main())
