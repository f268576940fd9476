"""The command layer: the `harness` commands (cli.py parses them, one module handles each), grid expansion and
recipes, tuning. The only part of harness/ that imports runners/ and analysis/."""
