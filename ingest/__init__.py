"""Ingestion: parse documents, chunk them, embed the chunks and index them in the vector store."""
