"""Subcommands of the `cnnlstm` console command, one module each (see `cnnlstm.cli.main`)."""
