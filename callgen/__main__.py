from callgen.cli.main import main

raise SystemExit(main())
