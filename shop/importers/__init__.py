"""Importers: real data from the formats shops and researchers use, each a service returning an ImportReport."""
