"""``python -m vi2clr`` (and ``torchrun -m vi2clr``) runs the CLI."""

from vi2clr.cli import main

if __name__ == "__main__":
    main()
