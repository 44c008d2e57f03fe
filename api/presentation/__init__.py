"""Presenters: domain records to the API's schemas, shared by routes and pages."""
