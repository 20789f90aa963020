"""Demo data in the database: writing the generated shop (`services`) and the one-command demo setup (`setup`)."""
