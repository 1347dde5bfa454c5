"""A deployed SklearnInference stack in moto, and stand-ins for the calls moto cannot serve here:
Lambda's Invoke (it needs Docker) and ListProvisionedConcurrencyConfigs (not implemented),
CloudFormation's ListStackResources (moto's stack holds no Lambda version), and the CodeDeploy
reads of a Lambda deployment group (moto has no Lambda deployments). Each stand-in answers in
the shape the service's API reference documents.

Everything else is moto: the CloudFormation stack and its outputs, the function, its versions
and `live` alias (routing weights included), the CloudWatch alarms and the CloudWatch Logs group.
The stand-ins are botocore `before-call` handlers on the session the tools are given, so the
tools' own clients and calls run unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import json
import time
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

REGION = "us-east-1"
ALIAS = "live"
ORIGINAL_ENVIRONMENT = {"MODEL_BACKEND": "auto", "LOG_LEVEL": "INFO"}
INIT_DURATION_MS = 812.4


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return {}\n")
    return buffer.getvalue()


def _ok(parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {}}
    return AWSResponse("https://aws.invalid", 200, {}, None), {
        **parsed,
        "ResponseMetadata": metadata,
    }


@dataclass
class Deployment:
    session: boto3.Session
    stack_name: str
    function_name: str
    log_group: str
    invokes: list[dict[str, Any]] = field(default_factory=list)
    lambda_calls: list[str] = field(default_factory=list)
    # model -> (function name, log group); "" for the only model
    functions: dict[str, tuple[str, str]] = field(default_factory=dict)
    # function name -> the version its AWS::Lambda::Version resource in the stack published
    published: dict[str, str] = field(default_factory=dict)

    def model(self, name: str) -> Deployment:
        """The same deployment, standing for model `name` (invokes and calls are shared)."""
        function_name, log_group = self.functions[name]
        return dataclasses.replace(self, function_name=function_name, log_group=log_group)

    def session_factory(self, **_: Any) -> boto3.Session:
        return self.session

    def environment(self) -> dict[str, str]:
        config = self.session.client("lambda").get_function_configuration(
            FunctionName=self.function_name
        )
        return dict(config.get("Environment", {}).get("Variables", {}))

    def alias_version(self) -> str:
        alias = self.session.client("lambda").get_alias(FunctionName=self.function_name, Name=ALIAS)
        return str(alias["FunctionVersion"])

    def set_alarm(self, concern: str, state: str, reason: str = "threshold crossed") -> None:
        self.session.client("cloudwatch").set_alarm_state(
            AlarmName=f"{self.stack_name}-{concern}", StateValue=state, StateReason=reason
        )

    def provisioned_concurrency(self, *configs: dict[str, Any]) -> None:
        """What ListProvisionedConcurrencyConfigs answers, e.g. {"Status": "READY", ...}."""
        arn = f"arn:aws:lambda:{REGION}:123456789012:function:{self.function_name}"
        listed = [
            {
                "FunctionArn": f"{arn}:{c.get('qualifier', ALIAS)}",
                "RequestedProvisionedConcurrentExecutions": c.get("requested", 1),
                "AllocatedProvisionedConcurrentExecutions": c.get("allocated", 1),
                "AvailableProvisionedConcurrentExecutions": c.get("allocated", 1),
                "Status": c["status"],
                **({"StatusReason": c["reason"]} if "reason" in c else {}),
            }
            for c in configs
        ]
        self._stand_in(
            "ListProvisionedConcurrencyConfigs",
            lambda **_: _ok({"ProvisionedConcurrencyConfigs": listed}),
        )

    def fake_invoke(self, *, answer_status: int = 200, write_report: bool = True) -> None:
        """Invoke as Lambda would run it: a new execution environment whenever the function's
        configuration changed since the last invoke (then the answer's Server-Timing and the
        REPORT line carry the init time), and a REPORT line in the function's log group."""
        seen: dict[str, Any] = {"revision": None}

        def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            environment = self.environment()
            cold = environment != seen["revision"]
            seen["revision"] = environment
            request_id = str(uuid.uuid4())
            self.invokes.append(
                {
                    "qualifier": params["query_string"].get("Qualifier"),
                    "event": json.loads(params["body"]),
                    "environment": environment,
                    "cold": cold,
                }
            )
            timing = "handler;dur=0.412" + (
                f", init;dur={INIT_DURATION_MS - 650:.1f}" if cold else ""
            )
            payload = json.dumps(
                {
                    "statusCode": answer_status,
                    "headers": {"Content-Type": "application/json", "Server-Timing": timing},
                    "body": "{}",
                }
            ).encode()
            if write_report:
                self._report(request_id, cold)
            response, parsed = _ok(
                {
                    "StatusCode": 200,
                    "ExecutedVersion": "$LATEST",
                    "Payload": StreamingBody(io.BytesIO(payload), len(payload)),
                }
            )
            parsed["ResponseMetadata"]["RequestId"] = request_id
            return response, parsed

        self._stand_in("Invoke", invoke)

    def _stand_in(self, operation: str, handler: Any, service: str = "lambda") -> None:
        """Answer `operation` with `handler` from now on, instead of moto (or a previous one)."""
        event = f"before-call.{service}.{operation}"
        self.session.events.unregister(event, unique_id=operation)
        self.session.events.register(event, handler, unique_id=operation)

    def route(self, weights: dict[str, float], version: str | None = None) -> None:
        """Point `live` (at `version`, default where it is) with these additional weights."""
        self.session.client("lambda").update_alias(
            FunctionName=self.function_name,
            Name=ALIAS,
            **({"FunctionVersion": version} if version else {}),
            RoutingConfig={"AdditionalVersionWeights": weights},
        )

    def stack_publishes(self, version: str) -> None:
        """The version the stack's template names for this model's function from now on."""
        self.published[self.function_name] = version
        self._serve_stack_resources()

    def _serve_stack_resources(self) -> None:
        arn = f"arn:aws:lambda:{REGION}:123456789012:function"
        summaries = [
            {
                "LogicalResourceId": f"InferenceFunctionCurrentVersion{index}",
                "PhysicalResourceId": f"{arn}:{function}:{version}",
                "ResourceType": "AWS::Lambda::Version",
                "LastUpdatedTimestamp": datetime.datetime(2026, 1, 1),
                "ResourceStatus": "CREATE_COMPLETE",
            }
            for index, (function, version) in enumerate(sorted(self.published.items()))
        ]
        summaries.append(
            {
                "LogicalResourceId": "AlarmTopic",
                "PhysicalResourceId": f"arn:aws:sns:{REGION}:123456789012:{self.stack_name}",
                "ResourceType": "AWS::SNS::Topic",
                "LastUpdatedTimestamp": datetime.datetime(2026, 1, 1),
                "ResourceStatus": "CREATE_COMPLETE",
            }
        )
        self._stand_in(
            "ListStackResources",
            lambda **_: _ok({"StackResourceSummaries": summaries}),
            service="cloudformation",
        )

    def release(self, status: str, target_version: str, message: str = "") -> None:
        """The deployment group's last deployment: `status` (Succeeded, Failed, Stopped,
        InProgress, ...) shifting `live` to `target_version`, with its error or rollback."""
        deployment_id = f"d-{uuid.uuid4().hex[:9].upper()}"
        when = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
        current = self.published.get(self.function_name, "")
        info: dict[str, Any] = {
            "deploymentId": deployment_id,
            "applicationName": f"{self.stack_name}-app",
            "deploymentGroupName": f"{self.stack_name}-group",
            "status": status,
            "computePlatform": "Lambda",
            "createTime": when,
        }
        if status in ("Failed", "Stopped"):
            info["errorInformation"] = {"code": "ALARM_ACTIVE", "message": message}
            info["rollbackInfo"] = {"rollbackMessage": message}
        function_info = {
            "functionName": self.function_name,
            "functionAlias": ALIAS,
            "currentVersion": current,
            "targetVersion": target_version,
            "targetVersionWeight": 0.1 if status == "InProgress" else 1.0,
        }
        self._stand_in(
            "GetDeploymentGroup",
            lambda **_: _ok(
                {
                    "deploymentGroupInfo": {
                        "applicationName": info["applicationName"],
                        "deploymentGroupName": info["deploymentGroupName"],
                        "computePlatform": "Lambda",
                        "lastAttemptedDeployment": {
                            "deploymentId": deployment_id,
                            "status": status,
                            "createTime": when,
                        },
                    }
                }
            ),
            service="codedeploy",
        )
        self._stand_in(
            "GetDeployment", lambda **_: _ok({"deploymentInfo": info}), service="codedeploy"
        )
        target_id = f"{self.function_name}:{ALIAS}"
        self._stand_in(
            "ListDeploymentTargets",
            lambda **_: _ok({"targetIds": [target_id]}),
            service="codedeploy",
        )
        self._stand_in(
            "BatchGetDeploymentTargets",
            lambda **_: _ok(
                {
                    "deploymentTargets": [
                        {
                            "deploymentTargetType": "LambdaTarget",
                            "lambdaTarget": {
                                "deploymentId": deployment_id,
                                "targetId": target_id,
                                "status": status,
                                "lambdaFunctionInfo": function_info,
                            },
                        }
                    ]
                }
            ),
            service="codedeploy",
        )

    def _report(self, request_id: str, cold: bool) -> None:
        logs = self.session.client("logs")
        stream = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        logs.create_log_stream(logGroupName=self.log_group, logStreamName=stream)
        now = int(time.time() * 1000)
        init = f"\tInit Duration: {INIT_DURATION_MS} ms" if cold else ""
        messages = [
            f"START RequestId: {request_id} Version: $LATEST",
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}\tDuration: 4.21 ms\tBilled Duration: 5 ms\t"
            f"Memory Size: 1024 MB\tMax Memory Used: 97 MB{init}\t",
        ]
        logs.put_log_events(
            logGroupName=self.log_group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": m} for m in messages],
        )


def deploy(
    session: boto3.Session,
    *,
    stack_name: str,
    api_url: str,
    api_auth: str | None = "none",
    alias_on_newest: bool = True,
    models: Sequence[str] = (),
    primary: str | None = None,
) -> Deployment:
    """The resources `cdk deploy` would leave: a function with two published versions and the
    `live` alias on the one the stack published (its last release succeeded), its log group,
    two alarms named `<stack>-...`, and the stack's outputs.

    With `models`, a stack serving several (stacks/model_deployment.py): that for each model,
    plus the API's alarm `<stack>-api-5xx` and the output `Models`. The `primary` model (the one
    in model/; output `PrimaryModel`) has the stack's own outputs and alarms (`FunctionName`,
    `<stack>-errors`); any other its own (`WineFunctionName`, `<stack>-wine-errors`). The
    Deployment stands for the first model; `.model(name)` for any.
    """
    iam = session.client("iam")
    role = iam.create_role(RoleName=f"{stack_name}-role", AssumeRolePolicyDocument="{}")
    lam = session.client("lambda")
    cloudwatch = session.client("cloudwatch")

    def alarm(concern: str, metric: str) -> None:
        name = f"{stack_name}-{concern}"
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            Namespace="AWS/Lambda",
            MetricName=metric,
            Statistic="Sum",
            Period=300,
            EvaluationPeriods=1,
            Threshold=5,
            ComparisonOperator="GreaterThanThreshold",
        )
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="deployed")

    outputs = {"ApiUrl": api_url.rstrip("/") + "/"}
    functions: dict[str, tuple[str, str]] = {}
    published: dict[str, str] = {}
    for model in models or [""]:
        title = "" if model == primary else model.capitalize()
        function_name = f"{stack_name}-{title}InferenceFunction"
        lam.create_function(
            FunctionName=function_name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="index.handler",
            Code={"ZipFile": _zip()},
            Environment={"Variables": dict(ORIGINAL_ENVIRONMENT)},
        )
        first = lam.publish_version(FunctionName=function_name)["Version"]
        lam.update_function_configuration(
            FunctionName=function_name, Description="the second deploy"
        )
        newest = lam.publish_version(FunctionName=function_name)["Version"]
        lam.create_alias(
            FunctionName=function_name,
            Name=ALIAS,
            FunctionVersion=newest if alias_on_newest else first,
        )
        log_group = f"/aws/lambda/{function_name}"
        session.client("logs").create_log_group(logGroupName=log_group)
        for concern, metric in (("errors", "Errors"), ("duration-p99", "Duration")):
            alarm(f"{model}-{concern}" if title else concern, metric)
        functions[model] = (function_name, log_group)
        published[function_name] = newest if alias_on_newest else first
        outputs |= {
            f"{title}CodeDeployApplication": f"{stack_name}-{title}app",
            f"{title}CodeDeployDeploymentGroup": f"{stack_name}-{title}group",
            f"{title}FunctionName": function_name,
            f"{title}FunctionLogGroup": log_group,
            f"{title}AliasArn": f"arn:aws:lambda:{REGION}:123456789012:function:"
            f"{function_name}:{ALIAS}",
        }
    if models:
        alarm("api-5xx", "5xx")
        outputs["Models"] = ",".join(models)
        if primary is not None:
            outputs["PrimaryModel"] = primary
    if api_auth is not None:
        outputs["ApiAuth"] = api_auth
    template = {
        "Resources": {"AlarmTopic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    session.client("cloudformation").create_stack(
        StackName=stack_name, TemplateBody=json.dumps(template)
    )
    function_name, log_group = functions[models[0] if models else ""]
    deployment = Deployment(
        session, stack_name, function_name, log_group, functions=functions, published=published
    )
    # Every Lambda operation the tools call, stand-ins included.
    session.events.register(
        "before-parameter-build.lambda",
        lambda event_name, **_: deployment.lambda_calls.append(event_name.rsplit(".", 1)[-1]),
    )
    deployment.provisioned_concurrency()  # none configured until a test says otherwise
    deployment._serve_stack_resources()  # the stack names the version `live` points at
    for model in models or [""]:  # whose release succeeded
        deployment.model(model).release("Succeeded", published[functions[model][0]])
    return deployment
