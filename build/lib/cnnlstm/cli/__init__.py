"""The command line: `cnnlstm COMMAND` (the top floor; imports flows and below)."""
