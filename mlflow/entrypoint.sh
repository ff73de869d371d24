#!/usr/bin/env bash
# Start the MLflow tracking server (UI + REST API + proxied artifacts) from environment variables.
#
# The mtforge MLflow image runs this as its entrypoint, and `make mlflow-server` runs the same
# script on a workstation (see mlflow/README.md). Configuration:
#
#   MLFLOW_BACKEND_STORE_URI      required  runs/params/metrics store, e.g.
#                                           postgresql://mlflow:<pw>@postgres:5432/mlflow
#                                           or sqlite:////data/mlflow.db
#   MLFLOW_ARTIFACTS_DESTINATION  required  where the server puts artifacts, e.g. s3://mlflow/artifacts
#                                           (or a local directory)
#   AWS_ACCESS_KEY_ID             required for an s3:// destination (from the MinIO secret)
#   AWS_SECRET_ACCESS_KEY         required for an s3:// destination (from the MinIO secret)
#   MLFLOW_S3_ENDPOINT_URL        optional  the S3 endpoint, e.g. http://minio.<ns>.svc.cluster.local:9000
#                                           (unset: AWS S3 itself)
#   PORT                          optional  port to listen on (default 5000)
#   HOST                          optional  interface to bind (default 0.0.0.0)
#   MLFLOW_WORKERS                optional  uvicorn worker processes (default 2)
#   MLFLOW_SERVER_ALLOWED_HOSTS   optional  accepted Host headers (default: the Service name
#                                           "mlflow" in any namespace, localhost, private IPs)
#   MLFLOW_SERVER_ENABLE_JOB_EXECUTION  optional  MLflow's background job runner (GenAI jobs);
#                                           default false here: mtforge does not use it
#   MLFLOW_BIN                    optional  the mlflow executable (default: mlflow on PATH)
#
# Missing or malformed required settings: a message naming each one on stderr and exit 2.
# Otherwise the script execs `mlflow server` (it becomes PID 1 in the container); any further
# arguments are passed on to `mlflow server` unchanged.
set -euo pipefail

me="mlflow/entrypoint.sh"
problems=()

if [[ -z "${MLFLOW_BACKEND_STORE_URI:-}" ]]; then
  problems+=("MLFLOW_BACKEND_STORE_URI is not set: the database for runs, e.g. postgresql://mlflow:<password>@postgres:5432/mlflow or sqlite:////data/mlflow.db")
fi
if [[ -z "${MLFLOW_ARTIFACTS_DESTINATION:-}" ]]; then
  problems+=("MLFLOW_ARTIFACTS_DESTINATION is not set: where the server stores artifacts, e.g. s3://mlflow/artifacts")
elif [[ "${MLFLOW_ARTIFACTS_DESTINATION}" == s3://* ]]; then
  for var in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY; do
    if [[ -z "${!var:-}" ]]; then
      problems+=("$var is not set: the artifacts destination ${MLFLOW_ARTIFACTS_DESTINATION} is S3, so the server needs the S3/MinIO credentials (mount them from the MinIO secret)")
    fi
  done
fi
PORT="${PORT:-5000}"
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || ((PORT < 1 || PORT > 65535)); then
  problems+=("PORT=${PORT} is not a port number (1-65535)")
fi
MLFLOW_WORKERS="${MLFLOW_WORKERS:-2}"
if ! [[ "$MLFLOW_WORKERS" =~ ^[1-9][0-9]*$ ]]; then
  problems+=("MLFLOW_WORKERS=${MLFLOW_WORKERS} is not a positive number of worker processes")
fi
mlflow_bin="${MLFLOW_BIN:-mlflow}"
if ! command -v "$mlflow_bin" >/dev/null 2>&1; then
  problems+=("the mlflow executable '${mlflow_bin}' was not found (install mlflow or set MLFLOW_BIN to its path)")
fi

if ((${#problems[@]})); then
  {
    echo "$me: cannot start the MLflow tracking server:"
    printf '  - %s\n' "${problems[@]}"
    echo "See mlflow/README.md for every setting."
  } >&2
  exit 2
fi

if [[ "${MLFLOW_ARTIFACTS_DESTINATION}" == s3://* && -z "${MLFLOW_S3_ENDPOINT_URL:-}" ]]; then
  echo "$me: MLFLOW_S3_ENDPOINT_URL is not set, so ${MLFLOW_ARTIFACTS_DESTINATION} is on AWS S3 itself (set it for MinIO)" >&2
fi

# Clients in the cluster reach the server by its Service name (mlflow, mlflow.<ns>.svc,
# mlflow.<ns>.svc.cluster.local, with or without the port); MLflow rejects any other Host
# header except localhost and private IPs, and once this variable is set its defaults no
# longer apply, so they are listed here too. /health is exempt from the check.
if [[ -z "${MLFLOW_SERVER_ALLOWED_HOSTS:-}" ]]; then
  hosts="mlflow,mlflow:*,mlflow.*.svc,mlflow.*.svc:*,mlflow.*.svc.cluster.local,mlflow.*.svc.cluster.local:*"
  hosts+=",localhost,localhost:*,127.0.0.1,127.0.0.1:*,10.*,192.168.*"
  for octet in $(seq 16 31); do hosts+=",172.${octet}.*"; done
  export MLFLOW_SERVER_ALLOWED_HOSTS="$hosts"
fi
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

echo "$me: MLflow on ${HOST:-0.0.0.0}:${PORT}, store ${MLFLOW_BACKEND_STORE_URI%%://*}://..., artifacts ${MLFLOW_ARTIFACTS_DESTINATION}" >&2
exec "$mlflow_bin" server \
  --backend-store-uri "${MLFLOW_BACKEND_STORE_URI}" \
  --serve-artifacts \
  --artifacts-destination "${MLFLOW_ARTIFACTS_DESTINATION}" \
  --host "${HOST:-0.0.0.0}" \
  --port "${PORT}" \
  --workers "${MLFLOW_WORKERS}" \
  --allowed-hosts "${MLFLOW_SERVER_ALLOWED_HOSTS}" \
  "$@"
