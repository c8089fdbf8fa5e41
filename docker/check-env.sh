#!/usr/bin/env bash
# Preflight of a MindPulse deployment (the `preflight` service, first to run): refuse to start
# while a secret is missing, still the placeholder of .env.example, too short, or unusable
# where it goes (inside a connection URL, as a Fernet key). Prints every problem, then exits 1.
# With --only-set, variables that are not set at all are skipped (a service that is given only
# some of the secrets checks those).
set -uo pipefail

only_set=false
[[ ${1-} == "--only-set" ]] && only_set=true

# skip NAME: true when NAME is unset and --only-set was given.
skip() { $only_set && [[ -z ${!1+x} ]]; }

PLACEHOLDER="change-me"
MIN_LENGTH=12
# Well-known defaults that must never guard a deployment (compared case-insensitively).
KNOWN_BAD=(admin airflow password postgres mindpulse secret changeme letmein jupyter redis)

# Secrets that go inside connection URLs (postgresql://user:SECRET@host): URL-safe characters
# only, so nothing needs escaping and Airflow's config parser sees no '%'.
URL_SECRETS=(POSTGRES_PASSWORD AIRFLOW_DB_PASSWORD MINDPULSE_DB_PASSWORD REDIS_PASSWORD)
OTHER_SECRETS=(AIRFLOW_JWT_SECRET AIRFLOW_API_SECRET_KEY AIRFLOW_ADMIN_PASSWORD MINDPULSE_AIRFLOW_PASSWORD
               DASHBOARD_COOKIE_SECRET JUPYTER_TOKEN MINDPULSE_ADMIN_PASSWORD)
USERNAMES=(AIRFLOW_ADMIN_USERNAME MINDPULSE_AIRFLOW_USERNAME MINDPULSE_ADMIN_USERNAME)

problems=()

check_secret() {
    local name=$1 value=${!1-}
    skip "$name" && return
    if [[ -z $value ]]; then
        problems+=("$name is empty: set it in .env (python3 docker/make_env.py writes a .env with every secret)")
        return
    fi
    local lower=${value,,}
    if [[ $lower == *"$PLACEHOLDER"* ]]; then
        problems+=("$name is still the placeholder of .env.example ('$value'): replace it with a secret of at least $MIN_LENGTH characters")
        return
    fi
    local bad
    for bad in "${KNOWN_BAD[@]}"; do
        if [[ $lower == "$bad" ]]; then
            problems+=("$name is the well-known default '$value': choose a secret of at least $MIN_LENGTH characters")
            return
        fi
    done
    if (( ${#value} < MIN_LENGTH )); then
        problems+=("$name has ${#value} characters: at least $MIN_LENGTH are accepted")
    fi
}

for name in "${URL_SECRETS[@]}"; do
    skip "$name" && continue
    check_secret "$name"
    value=${!name-}
    if [[ -n $value && ! $value =~ ^[A-Za-z0-9._~-]+$ ]]; then
        problems+=("$name contains a character that would need escaping in a connection URL: letters, digits and . _ ~ - are accepted (e.g. openssl rand -hex 24)")
    fi
done
for name in "${OTHER_SECRETS[@]}"; do
    check_secret "$name"
done

# A Fernet key is 32 random bytes in URL-safe base64: 43 characters and '='. A comma-separated
# list (new,old) is how Airflow rotates it (`airflow rotate-fernet-key`).
fernet=${AIRFLOW_FERNET_KEY-}
FERNET_RE='^[A-Za-z0-9_-]{43}=$'
if skip AIRFLOW_FERNET_KEY; then
    :
elif [[ -z $fernet ]]; then
    problems+=("AIRFLOW_FERNET_KEY is empty: set it in .env (python3 docker/make_env.py makes one)")
else
    IFS=',' read -ra fernet_keys <<<"$fernet"
    for key in "${fernet_keys[@]}"; do
        if [[ ! $key =~ $FERNET_RE ]]; then
            problems+=("AIRFLOW_FERNET_KEY '${key:0:8}...' is not a Fernet key: 44 characters of URL-safe base64 ending in '=' are accepted, or a comma-separated list of them when rotating (python3 -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')")
        fi
    done
fi

for name in "${USERNAMES[@]}"; do
    skip "$name" && continue
    value=${!name-}
    if [[ -z $value ]]; then
        problems+=("$name is empty: set it in .env")
    elif [[ ${value,,} == *"$PLACEHOLDER"* ]]; then
        problems+=("$name is still the placeholder of .env.example ('$value')")
    elif [[ ! $value =~ ^[A-Za-z0-9._@-]+$ ]]; then
        problems+=("$name '$value' has a character that is not accepted: letters, digits and . _ @ - are")
    fi
done
if [[ -n ${AIRFLOW_ADMIN_USERNAME-} && ${AIRFLOW_ADMIN_USERNAME-} == "${MINDPULSE_AIRFLOW_USERNAME-}" ]]; then
    problems+=("MINDPULSE_AIRFLOW_USERNAME equals AIRFLOW_ADMIN_USERNAME ('$AIRFLOW_ADMIN_USERNAME'): the dashboard gets a user of its own, without admin rights")
fi
if [[ -n ${AIRFLOW_ADMIN_PASSWORD-} && ${AIRFLOW_ADMIN_PASSWORD-} == "${AIRFLOW_ADMIN_USERNAME-}" ]]; then
    problems+=("AIRFLOW_ADMIN_PASSWORD equals AIRFLOW_ADMIN_USERNAME: choose a secret")
fi
email=${AIRFLOW_ADMIN_EMAIL-}
if ! skip AIRFLOW_ADMIN_EMAIL && [[ ! $email =~ ^[^@[:space:]]+@[^@[:space:]]+$ ]]; then
    problems+=("AIRFLOW_ADMIN_EMAIL '$email' is not an e-mail address (name@domain is accepted)")
fi

if (( ${#problems[@]} )); then
    echo "preflight: MindPulse will not start until .env is fixed:" >&2
    for line in "${problems[@]}"; do
        echo "  - $line" >&2
    done
    exit 1
fi
echo "preflight: every secret is set and usable"
