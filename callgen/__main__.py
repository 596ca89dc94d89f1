from callgen.cli import main

raise SystemExit(main())
