"""One module per tab of the app, each with TITLE and build(ctx)."""
