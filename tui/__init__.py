"""warroom terminal UI: a client of the relay's protocol that holds no authority."""
