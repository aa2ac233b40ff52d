#!/usr/bin/python3
"""gpu-notebook's AWS client on the machine, stdlib only: instance metadata, SigV4, the bundle fetch
(retried, hash-checked, reported). First boot: `gpu_notebook_aws.py INSTALLER OPTIONS` (user data).
"""
import argparse, hashlib, hmac, io, json, os, re, subprocess, sys, tarfile, time
import urllib.error, urllib.parse, urllib.request

ERRORS = (OSError, ValueError, subprocess.SubprocessError)  # urllib's errors are OSErrors
BUNDLE_REF = re.compile(r"^([a-z0-9.-]+)/([\w./-]*?([0-9a-f]{64})\.tar\.gz)$")  # bucket/key, the key ends in the SHA-256


def say(text):
    print("gpu-notebook-bundle: " + text, flush=True)


def fetch(url, headers, context=None, method="GET", data=None, timeout=5, raw=False):
    request = urllib.request.Request(url, headers=headers, method=method, data=data)
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        body = response.read()
    return body if raw else body.decode("utf-8").strip()


def imds(url):
    # One IMDSv2 token a run; once getting it failed, every read fails at once.
    token = []

    def get(path):
        if not token:
            try:
                token.append(fetch(url + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"},
                                   method="PUT", timeout=2))
            except ERRORS as error:
                token.append(error)
        if isinstance(token[0], Exception):
            raise token[0]
        return fetch(url + "/latest/meta-data/" + path, {"X-aws-ec2-metadata-token": token[0]}, timeout=2)
    return get


def role_credentials(metadata):
    role = metadata("iam/security-credentials/").split()[0]
    return json.loads(metadata("iam/security-credentials/" + role))


def amz_now():
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def aws_endpoint(service, region):
    return "https://%s.%s.amazonaws.com%s" % (service, region, ".cn" * region.startswith("cn-"))


def sign(method, url, body, region, service, credentials, amz_date, headers):  # SigV4; query canonical, path encoded
    parts = urllib.parse.urlsplit(url)
    headers = dict(headers, host=parts.netloc, **{"x-amz-date": amz_date})
    if credentials.get("Token"):
        headers["x-amz-security-token"] = credentials["Token"]
    names = sorted(headers)
    canonical = "\n".join([method, parts.path or "/", "&".join(sorted(filter(None, parts.query.split("&")))),
                           "".join("%s:%s\n" % (name, headers[name]) for name in names), ";".join(names),
                           hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    key = ("AWS4" + credentials["SecretAccessKey"]).encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        credentials["AccessKeyId"], scope, ";".join(names), hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest())
    return headers


class Refused(ValueError):  # a bundle never to install: a wrong hash or an unsafe entry
    pass


def parse_ref(ref):
    match = BUNDLE_REF.match(ref.strip())
    if not match:
        raise ValueError("%r is not <bucket>/<key>" % ref)
    return match.groups()


def verified(data, sha):
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha:
        raise Refused("SHA-256 %s, not %s (partial or altered)" % (actual, sha))
    return data


def write_atomically(path, data, mode):
    temporary = "%s.%d.new" % (path, os.getpid())
    with open(temporary, "wb") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def download(args, metadata, ref):
    bucket, key, _ = parse_ref(ref)
    region = metadata("placement/region")
    url = ("%s/%s/%s" % (args.s3_endpoint.rstrip("/"), bucket, key) if args.s3_endpoint
           else "%s/%s" % (aws_endpoint(bucket + ".s3", region), key))
    empty = hashlib.sha256(b"").hexdigest()
    return fetch(url, sign("GET", url, b"", region, "s3", role_credentials(metadata), amz_now(), {"x-amz-content-sha256": empty}),
                 timeout=30, raw=True)


def obtain(args, kept=lambda sha: None):
    """(reference, verified bytes): kept(sha) if it has them, else S3, with retries."""
    delay, last = args.first_delay, "none"
    for attempt in range(1, args.attempts + 1):
        ref, metadata = args.bundle, imds(args.imds_url.rstrip("/"))  # a new token: metadata may be starting
        try:
            if ref is None:
                try:
                    ref = metadata("tags/instance/" + args.tag)
                except urllib.error.HTTPError as error:
                    raise LookupError("no tag %s yet (HTTP %d)" % (args.tag, error.code)) from None
            sha = parse_ref(ref)[2]
            return ref, kept(sha) or verified(download(args, metadata, ref), sha)
        except (ERRORS + (LookupError, KeyError, IndexError)) as error:
            last = "%s (%s)" % (getattr(error, "reason", None) or error, ref)
        later = attempt < args.attempts
        say("attempt %d of %d failed: %s%s" % (attempt, args.attempts, last, "; retrying in %gs" % delay if later else ""))
        if later:
            time.sleep(delay)
            delay = min(delay * 2, args.max_delay)
    raise RuntimeError("gave up after %d attempts; the last failure: %s" % (args.attempts, last))


def give_up(args, error, keeps=None):
    message = "could not install the boot bundle: %s. %s. Next step: npm run up, or npm run stop then start" % (
        error, keeps or "the machine has not finished its set-up")
    say(message)
    write_atomically(args.failed_marker, (message + "\n").encode(), 0o644)
    return 1


def fetch_arguments(parser):
    # From components/contract.ts (no defaults here), then the tests' options.
    for name in ("tag", "state-dir", "failed-marker"):
        parser.add_argument("--" + name, required=True)
    for name in ("attempts", "first-delay", "max-delay"):
        parser.add_argument("--" + name, type=float, required=True)
    parser.add_argument("--bundle")  # <bucket>/<key> instead of the tag's (npm run up)
    parser.add_argument("--root", default="/")
    parser.add_argument("--imds-url", default="http://169.254.169.254")
    parser.add_argument("--s3-endpoint")  # path-style


def rooted(args):
    args.attempts = int(args.attempts)
    for name in ("state_dir", "failed_marker"):
        setattr(args, name, os.path.join(args.root, getattr(args, name).lstrip("/")))
    os.makedirs(args.state_dir, mode=0o755, exist_ok=True)
    return args


def first_boot(argv):
    parser = argparse.ArgumentParser(prog="gpu_notebook_aws.py INSTALLER", description=__doc__)
    fetch_arguments(parser)
    args = rooted(parser.parse_known_args(argv[1:])[0])  # the installer's own options pass through
    installer = os.path.join(args.root, argv[0].lstrip("/"))
    try:
        with tarfile.open(fileobj=io.BytesIO(obtain(args)[1]), mode="r:gz") as archive:
            write_atomically(installer, archive.extractfile(argv[0].lstrip("/")).read(), 0o755)
    except (RuntimeError, KeyError) + ERRORS as error:
        return give_up(args, error)
    return subprocess.run([sys.executable, installer, "install"] + argv[1:]).returncode


if __name__ == "__main__":
    sys.exit(first_boot(sys.argv[1:]))
