"""The Streamlit app's views and glue. `ae_core` does the computing; this package draws it.

Without Streamlit (usable from a plain script, e.g. benchmarks/app_latency.py): `settings`,
`engine` (one interaction: noise, models, metrics), `figures` (Plotly dicts), `jobs` (training
runs in trainer processes, queued). With Streamlit: `resources` (cached data and models),
`inputs_view`, `models_view`, `training_view`, `errors`, `style`.
"""
