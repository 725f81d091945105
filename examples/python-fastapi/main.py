"""A tiny FastAPI app: `gantry build examples/python-fastapi -t fastapi-hello`."""
from fastapi import FastAPI

api = FastAPI()


@api.get("/")
def hello() -> dict:
    return {"message": "hello from fastapi"}
