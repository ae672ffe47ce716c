"""The Streamlit app's views and glue. `ae_core` does the computing; this package draws it.

Modules without Streamlit (`settings`, `engine`, `figures`, `jobs`) can run in a plain script
(the latency benchmark uses them); the `*_view` modules and `resources` need a running app.
"""
