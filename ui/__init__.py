"""Streamlit-side helpers shared by app.py and the pages: the cached console and small renderers."""
