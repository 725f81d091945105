"""A tiny Flask app: `gantry build examples/python-flask -t flask-hello` packs it without a Dockerfile."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return {"message": "hello from flask"}
