# The Lambda container image: the shared handler and one model on AWS's Python 3.12 base image,
# which carries the runtime interface client (and, for `docker run`, the runtime emulator).
#
# The base image's tag moves with every AWS patch release. To pin it, build with
#   --build-arg BASE_IMAGE=public.ecr.aws/lambda/python:3.12@sha256:<digest>
# and read the current digest with
#   docker buildx imagetools inspect public.ecr.aws/lambda/python:3.12
# and refresh the pin on a schedule, since AWS patches the runtime through new digests.
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12
# image: the model's artifacts ship in the image; store: the handler and the model's runtime only,
# and each instance fetches the version its deployment pinned (models.toml `source`).
ARG MODEL_SOURCE=image

# What ships, decided from the model's manifest (handler/runtime.py, standard library only):
# every artifact must match its SHA-256, only the one the model serves is kept, and the
# requirements are the handler's for AWS plus what that backend needs at the versions that
# trained or verified it. MODEL is the model's directory (the one holding artifacts/).
FROM ${BASE_IMAGE} AS stage
ARG MODEL=model
ARG MODEL_SOURCE
COPY handler/ /build/handler/
COPY ${MODEL}/artifacts/ /build/model/
RUN cd /build && python -m handler.runtime stage aws model out --source ${MODEL_SOURCE}

FROM ${BASE_IMAGE}
ARG MODEL_SOURCE
# Dependencies first, so this layer stays cached until the requirements change. Wheels only:
# nothing compiles at build time, and an arm64 build on an x86 laptop gets the right ones.
COPY --from=stage /build/out/requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --only-binary=:all: -r /tmp/requirements.txt && rm /tmp/requirements.txt

COPY handler/ ${LAMBDA_TASK_ROOT}/handler/
COPY --from=stage /build/out/artifacts/ ${LAMBDA_TASK_ROOT}/model/artifacts/

# The task root is read-only at run time, so byte-code compiled now is byte-code a cold start
# does not have to compile.
RUN python -m compileall -q ${LAMBDA_TASK_ROOT}/handler
# A model that cannot run with what was installed stops the build, not a cold start in prod.
RUN python -m handler.runtime check ${LAMBDA_TASK_ROOT}/model/artifacts --source ${MODEL_SOURCE}

CMD ["handler.aws.lambda_handler"]
