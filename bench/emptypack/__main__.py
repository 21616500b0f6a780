"""An Analyzer that judges nothing, served as our pack is served (grpc.server on a pool of
SERVER_THREADS threads: pulumi_policy/policy.py PolicyPack.__init__ builds it, and the pack's
patch, policies/guardrails/sdk.py, sizes its pool), started the same way (`python -m
pulumi.policy <engine> <dir>`): what 10,000 Analyze calls cost in transport and server alone
(bench/scale.py's "gRPC floor")."""

import sys
import time
from concurrent import futures
from pathlib import Path

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, plugin_pb2


class EmptyAnalyzer(analyzer_pb2_grpc.AnalyzerServicer):
    def Handshake(self, request, context):  # noqa: N802 - the protocol's names
        return analyzer_pb2.AnalyzerHandshakeResponse()

    def ConfigureStack(self, request, context):  # noqa: N802
        return analyzer_pb2.AnalyzerStackConfigureResponse()

    def Configure(self, request, context):  # noqa: N802
        return empty_pb2.Empty()

    def GetAnalyzerInfo(self, request, context):  # noqa: N802
        return analyzer_pb2.AnalyzerInfo(name="empty", version="0.0.1")

    def GetPluginInfo(self, request, context):  # noqa: N802
        return plugin_pb2.PluginInfo(version="0.0.1")

    def Analyze(self, request, context):  # noqa: N802
        return analyzer_pb2.AnalyzeResponse()

    def AnalyzeStack(self, request, context):  # noqa: N802
        return analyzer_pb2.AnalyzeResponse()


sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policies"))
from guardrails.sdk import SERVER_THREADS  # noqa: E402 - the pack's own pool size

server = grpc.server(
    futures.ThreadPoolExecutor(max_workers=SERVER_THREADS),
    options=[("grpc.max_receive_message_length", 1 << 30)],  # as the SDK: no practical limit
)
analyzer_pb2_grpc.add_AnalyzerServicer_to_server(EmptyAnalyzer(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
sys.stdout.write(f"{port}\n")
sys.stdout.flush()
while True:
    time.sleep(3600)
