"""The Gradio app: `python launch_ui.py` builds it (ui/app.py) from one module per tab (ui/tabs/)."""
