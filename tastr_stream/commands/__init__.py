"""One module per ``tastr-stream`` subcommand; each is a thin adapter from argv to the library."""
