"""seqgen studio: a local web page (standard-library HTTP server, no CDN) to generate, see, hear and download
songs from the shipped models."""
