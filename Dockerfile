# The Lambda container image: the shared handler and the model artifacts on AWS's Python 3.12 base
# image, which carries the runtime interface client (and, for `docker run`, the runtime emulator).
FROM public.ecr.aws/lambda/python:3.12

# Dependencies first, so this layer stays cached until the pins change. Wheels only: nothing
# compiles at build time, and an arm64 build on an x86 laptop (or the reverse) gets the right ones.
COPY handler/requirements.txt ${LAMBDA_TASK_ROOT}/handler/requirements.txt
RUN pip install --no-cache-dir --only-binary=:all: -r ${LAMBDA_TASK_ROOT}/handler/requirements.txt

COPY handler/ ${LAMBDA_TASK_ROOT}/handler/
COPY model/artifacts/ ${LAMBDA_TASK_ROOT}/model/artifacts/
# Every artifact that ships must match the manifest, the one served and any other: the build
# stops here rather than an instance at init (or never, for an artifact it does not load).
RUN python -m handler.manifest ${LAMBDA_TASK_ROOT}/model/artifacts

# The task root is read-only at run time, so byte-code compiled now is byte-code a cold start
# does not have to compile.
RUN python -m compileall -q ${LAMBDA_TASK_ROOT}/handler

CMD ["handler.aws.lambda_handler"]
