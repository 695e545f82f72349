"""An MLServer model that takes a while to load, to watch the server while a model is loading.

MLServer imports it from the model's folder (model-settings.json: "implementation":
"slow_model.SlowModel"). `load()` sleeps `parameters.extra.load_seconds` (default 8); predict
echoes the first input doubled, so a test can tell its answer apart.
"""
import asyncio

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class SlowModel(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra or {}) if self.settings.parameters else {}
        await asyncio.sleep(float(extra.get("load_seconds", 8)))
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        data = NumpyCodec.decode_input(payload.inputs[0])
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output("doubled", data * 2)],
        )
