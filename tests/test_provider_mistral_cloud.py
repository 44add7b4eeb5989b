# SPDX-License-Identifier: Apache-2.0
"""Mistral models on Azure AI Foundry (``MistralAzure``) and Vertex AI (``MistralGCP``), real SDK.

Both clients ship inside ``mistralai`` with their own ``Chat`` class (``complete``, ``stream`` and
their ``_async`` twins) speaking Mistral's chat API; the fake server answers Azure under
``/mistral/azure`` and Vertex AI on its ``rawPredict``/``streamRawPredict`` paths. The provider is
the cloud's, unless the host is a known one that says otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mistralai.azure.client import MistralAzure
from mistralai.azure.client import errors as azure_errors
from mistralai.gcp.client import MistralGCP
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from fakeserver import FakeServerProcess, start_fake_server
from helpers import drain, only_span, points, resolve, total_count
from otel_llmperf.providers.mistral import ADAPTER, CHAT_API, default_provider

MESSAGES = [{"role": "user", "content": "Count to five please"}]
DURATION = "gen_ai.client.operation.duration"
TTFC = "gen_ai.client.operation.time_to_first_chunk"
PROVIDERS = {"azure": "azure.ai.inference", "gcp": "gcp.vertex_ai"}
MISTRAL = "api.mistral.ai"
MODELS = {"azure": "mistral-large-2411", "gcp": "mistral-small-2503"}


@pytest.fixture(name="cloud_server", scope="module")
def fixture_cloud_server() -> Iterator[FakeServerProcess]:
    server = start_fake_server(ttft=0.01, token_delay=0.002, output_tokens=5, seed=1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="cloud", params=["azure", "gcp"])
def fixture_cloud(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(name="cloud_client")
async def fixture_cloud_client(cloud: str, cloud_server: FakeServerProcess) -> AsyncIterator[Any]:
    # retry_config=None: no retries. A fixed access token keeps MistralGCP off google.auth.
    client: Any
    if cloud == "azure":
        client = MistralAzure(api_key="test-key", server_url=f"{cloud_server.url}/mistral/azure", retry_config=None)
    else:
        client = MistralGCP(project_id="p", access_token="test-token", server_url=cloud_server.url, retry_config=None)
    yield client
    client.__exit__(None, None, None)
    await client.__aexit__(None, None, None)


async def call(client: Any, mode: str, method: str, cloud: str, **kwargs: Any) -> Any:
    function = getattr(client.chat, f"{method}_async" if mode == "async" else method)
    return await resolve(function(model=MODELS[cloud], messages=MESSAGES, **kwargs))


@pytest.mark.usefixtures("instrumented")
async def test_mistral_cloud_complete_and_stream(
    cloud_client: Any,
    cloud: str,
    mode: str,
    cloud_server: FakeServerProcess,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    response = await call(cloud_client, mode, "complete", cloud, temperature=0.1)
    events = await drain(await call(cloud_client, mode, "stream", cloud))
    assert response.choices[0].message.content == "tok1 tok2 tok3 tok4 tok5 " and len(events) == 6

    complete_span, stream_span = span_exporter.get_finished_spans()
    for span, streamed in ((complete_span, False), (stream_span, True)):
        attrs = dict(span.attributes or {})
        assert span.name == f"chat {MODELS[cloud]}"
        assert attrs["gen_ai.provider.name"] == PROVIDERS[cloud]
        assert attrs["gen_ai.request.stream"] is streamed
        assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == cloud_server.port
        assert attrs["gen_ai.response.model"] == MODELS[cloud]
        assert attrs["gen_ai.response.finish_reasons"] == ("stop",)
        assert (attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]) == (7, 5)
    assert complete_span.attributes["gen_ai.request.temperature"] == pytest.approx(0.1)
    assert complete_span.attributes["gen_ai.response.id"] == response.id
    assert stream_span.attributes["gen_ai.response.time_to_first_chunk"] > 0
    (ttfc,) = points(metric_reader, TTFC)
    assert ttfc.attributes["gen_ai.provider.name"] == PROVIDERS[cloud]
    assert total_count(metric_reader, DURATION, {"gen_ai.provider.name": PROVIDERS[cloud]}) == 2


@pytest.mark.usefixtures("instrumented")
async def test_mistral_azure_error_is_its_sdk_error(
    cloud_server: FakeServerProcess, mode: str, span_exporter: InMemorySpanExporter
) -> None:
    client = MistralAzure(api_key="test-key", server_url=f"{cloud_server.url}/mistral/azure", retry_config=None)
    try:
        with pytest.raises(azure_errors.SDKError) as raised:
            await call(client, mode, "complete", "azure", http_headers={"x-fake-error": "429"})
    finally:
        client.__exit__(None, None, None)
        await client.__aexit__(None, None, None)
    assert raised.value.status_code == 429
    span = only_span(span_exporter)
    assert span.attributes["error.type"] == "SDKError" and span.status.status_code is StatusCode.ERROR
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.inference"


def test_provider_follows_the_client_class_then_the_host() -> None:
    assert default_provider("mistralai.client.chat") == "mistral_ai"
    assert default_provider("mistralai.azure.client.chat") == "azure.ai.inference"
    assert default_provider("mistralai_gcp.chat") == "gcp.vertex_ai"
    # No request is sent: request_info only reads the configured server URL.
    client = MistralAzure(api_key="k", server_url="https://my-deployment.services.ai.azure.com", retry_config=None)
    try:
        info = ADAPTER.request_info(CHAT_API, client.chat, {"model": "m"})
        host = "my-deployment.services.ai.azure.com"
        assert (info.provider, info.server_address, info.server_port) == ("azure.ai.inference", host, 443)
        # A Mistral-hosted URL given per call is Mistral AI's, whatever the client class.
        override = ADAPTER.request_info(CHAT_API, client.chat, {"server_url": "https://api.mistral.ai"})
        assert (override.provider, override.server_address, override.server_port) == ("mistral_ai", MISTRAL, 443)
    finally:
        client.__exit__(None, None, None)
    gcp = MistralGCP(project_id="p", region="us-central1", access_token="t", retry_config=None)
    try:
        info = ADAPTER.request_info(CHAT_API, gcp.chat, {"model": "m"})
        assert (info.provider, info.server_address) == ("gcp.vertex_ai", "us-central1-aiplatform.googleapis.com")
    finally:
        gcp.__exit__(None, None, None)
