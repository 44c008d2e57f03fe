"""The API's routes: each parses a request, declares who may call it and answers with a presenter."""
