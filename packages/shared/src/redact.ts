/**
 * Query parameters whose values are credentials: API keys (`api_key`, as Roboflow's client sends
 * it), tokens, and the signatures of signed URLs (ours carry `s`; S3 and GCS presigned URLs
 * carry `X-Amz-Signature`, `X-Amz-Credential`, `X-Goog-Signature`, ...).
 */
const SECRET_QUERY_PARAM =
  /([?&;](?:api_?key|apikey|access_?token|token|key|signature|sig|s|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=)[^&#\s"'<>]*/gi;
const BEARER = /(Bearer\s+)[^\s"',;]+/gi;

/** The redaction marker that replaces a secret. */
export const REDACTED = '[redacted]';

/**
 * `text` with every credential-looking query value and bearer token replaced by `[redacted]`, for
 * any message or log line that may quote a URL (a request URL, a presigned download URL).
 */
export function redactSecrets(text: string): string {
  return text.replace(SECRET_QUERY_PARAM, `$1${REDACTED}`).replace(BEARER, `$1${REDACTED}`);
}
