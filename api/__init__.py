"""The REST API: thin views that turn HTTP into commands and queries, and errors into JSON."""
