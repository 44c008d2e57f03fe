"""The references for bench/claims_http.py: FastAPI endpoints returning constant JSON, served by the same uvicorn
setup as Shanzhi. `/bare` is a plain `def` endpoint, run in FastAPI's thread pool exactly as Shanzhi's endpoints
are (they call a synchronous database driver); `/bare-async` skips the thread pool, for comparison."""

from fastapi import FastAPI

app = FastAPI()
ANSWER = {"id": 1, "status": "approved", "points": 2}


@app.post("/bare")
def bare() -> dict[str, object]:
    return ANSWER


@app.post("/bare-async")
async def bare_async() -> dict[str, object]:
    return ANSWER


@app.get("/bare-get")
def bare_get() -> dict[str, object]:
    return ANSWER
