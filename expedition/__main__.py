"""`python -m expedition` runs the command line."""

from expedition.cli import main

if __name__ == "__main__":
    main()
