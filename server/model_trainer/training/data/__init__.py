"""The data pipeline: a corpus split and encoded once into token files, and the windows a
run reads from them."""
