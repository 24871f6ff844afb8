"""Credentials: request signing and tokens (`TokenAuth`, `AkSkAuth`, `PasswordAuth`),
temporary keys from the metadata service, and their renewal before expiry."""
