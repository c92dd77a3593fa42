"""One module per ``wsal`` subcommand: ``register(subparsers)`` builds its parser, ``run(args) -> int``.

Heavy imports (torch, h5py, matplotlib) happen inside ``run`` so that ``wsal --help`` is instant.
"""
