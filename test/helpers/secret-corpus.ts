/** Realistic secret-bearing messages shared by the redaction tests. */

const JWT =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJ0aWQiOiIxMjMifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmUtMTIzNDU2Nzg5';
const JWT_HS = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';
const PEM_BODY_1 = 'MIIEowIBAAKCAQEA7bq98WdWM4rTxLpQzqV3k9Xy2n8bHq0f1c5s6t7u8v9w0x1y2z3';
const PEM_BODY_2 = 'Zx9YwVu8Ts7Rq6Po5Nm4Lk3Ji2Hg1Fe0Dc9Ba8ZyXwVuTsRqPoNmLkJiHgFeDcBa12';

/** [message, secret substrings that must not survive] — one realistic case per line. */
export const CORPUS: ReadonlyArray<readonly [string, readonly string[]]> = [
  // Our own credentials: API tokens and session ids, bare and in headers.
  [
    'automation failed with olt_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA',
    [
      '0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA',
      'Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdoaWprbA',
    ],
  ],
  [
    'cookie: opsledger_session=ols_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_dGhpcy1pcy1hLXNlc3Npb24tc2VjcmV0LXZhbHVlLTEyMw; theme=dark',
    ['dGhpcy1pcy1hLXNlc3Npb24tc2VjcmV0LXZhbHVlLTEyMw'],
  ],
  ['sent ols_0190a1b2c3d47e8f9a0b1c2d3e4f5a6b_c2hvcnQtc2VjcmV0 to the proxy', ['c2hvcnQtc2VjcmV0']],
  // Passwords stated in prose, however weak.
  ['could not connect: the password is hunter2', ['hunter2']],
  ['service account password for svc-backup was Summer2026! (rotate it)', ['Summer2026!']],
  ['Password: letmein', ['letmein']],
  [`GET /v1.0/me failed: Authorization: Bearer ${JWT}`, [JWT, JWT.split('.')[1]!, JWT.split('.')[2]!]],
  ['Proxy-Authorization: Basic dXNlcjpodW50ZXIy', ['dXNlcjpodW50ZXIy']],
  [
    'authorization: Digest username="svc", realm="api", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", response="6629fae49393a05397450978507c4ef1"',
    ['dcd98b7102dd2f0e8b11d0f600bfb0c093', '6629fae49393a05397450978507c4ef1'],
  ],
  [
    'PUT blob failed 403: Authorization: SharedKey opsstore:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08=',
    ['ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08='],
  ],
  ['request rejected (Bearer 2YotnFZFEjr1zCsicMWpAA) by upstream proxy', ['2YotnFZFEjr1zCsicMWpAA']],
  [`id token ${JWT_HS} was rejected: signature invalid`, [JWT_HS, JWT_HS.split('.')[2]!]],
  [
    'POST /oauth2/v2.0/token body: grant_type=client_credentials&client_id=4a1b2c3d&client_secret=Xq7~s8Q~abcDEF123ghiJKL456&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default',
    ['Xq7~s8Q~abcDEF123ghiJKL456'],
  ],
  [
    'refresh failed: refresh_token=0.ARwA6WgJJ9X2qk-7Zr9bN0Z6cWkKRRC2dfJBn4Y8B8uCsQ.AgABAAEAAAD--DLA3VO7Qrdd&grant_type=refresh_token',
    ['0.ARwA6WgJJ9X2qk-7Zr9bN0Z6cWkKRRC2dfJBn4Y8B8uCsQ.AgABAAEAAAD--DLA3VO7Qrdd'],
  ],
  [
    'callback https://app.example.com/cb#access_token=ya29.a0AfH6SMBx3kLm9PqRsTuVw&expires_in=3599',
    ['ya29.a0AfH6SMBx3kLm9PqRsTuVw'],
  ],
  [`login redirect carried id_token=${JWT_HS}&state=abc`, [JWT_HS]],
  [
    'config rejected: {"password": "correct horse battery staple", "user": "svc"}',
    ['correct horse battery staple'],
  ],
  ['app registration {"client_secret":"s3cr3t-V4lue_0987","client_id":"4a1b2c3d"}', ['s3cr3t-V4lue_0987']],
  ["python said {'token': 'tok_9f8e7d6c5b4a3210', 'ok': False}", ['tok_9f8e7d6c5b4a3210']],
  ['yaml parse: password: hunter2', ['hunter2']],
  ['login failed for user admin passwd=Tr0ub4dor3 (attempt 2)', ['Tr0ub4dor3']],
  ['odbc: Driver={ODBC};Server=db;Uid=ops;Pwd=S3cr3tP@ss;', ['S3cr3tP@ss']],
  ['webhook secret=whk_abc123def456 rejected', ['whk_abc123def456']],
  ['GET /search?api_key=AbCdEf0123456789&q=x returned 401', ['AbCdEf0123456789']],
  ['vendor apikey: 9a8b7c6d5e4f3a2b1c0d rejected', ['9a8b7c6d5e4f3a2b1c0d']],
  [
    'GET https://api.example.com/v1/items?limit=10&token=f00ba4c0ffee1234&page=2 -> 401',
    ['f00ba4c0ffee1234'],
  ],
  ['connect ECONNREFUSED postgres://opsledger:pg-Pa55word!@db.internal:5432/opsledger', ['pg-Pa55word!']],
  ['DATABASE_URL=postgresql://app:Sup3r%24ecret@10.0.0.5/ledger?sslmode=require', ['Sup3r%24ecret']],
  ['mysql://root:rootpw123@mysql:3306/app is unreachable', ['rootpw123']],
  ['mongodb+srv://svc-user:M0ng0P4ss@cluster0.ab1cd.mongodb.net/db?retryWrites=true', ['M0ng0P4ss']],
  ['cache error at redis://:r3d1sP4ss@cache:6379/0', ['r3d1sP4ss']],
  ['amqp://guest:gu3stPa55@rabbit:5672/%2F closed the channel', ['gu3stPa55']],
  ['git clone https://svc:hTtPpAsS99@git.example.com/repo.git failed', ['hTtPpAsS99']],
  ['escaped json {"url":"postgres:\\/\\/u:Esc4pedPw@h\\/db"}', ['Esc4pedPw']],
  [
    'upload to https://acct.blob.core.windows.net/backups/run.tar?sv=2022-11-02&ss=b&sp=rwdlac&se=2025-01-01T00:00:00Z&spr=https&sig=Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA%3D%3D failed',
    ['Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA%3D%3D'],
  ],
  [
    'DefaultEndpointsProtocol=https;AccountName=opsstore;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;EndpointSuffix=core.windows.net',
    ['Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='],
  ],
  [
    'Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=K3yV4lu3abcdefGHIJKLmnopQRSTuvwxyz0123456=',
    ['K3yV4lu3abcdefGHIJKLmnopQRSTuvwxyz0123456='],
  ],
  ['S3 PutObject denied for AKIAIOSFODNN7EXAMPLE', ['AKIAIOSFODNN7EXAMPLE']],
  [
    'aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
    ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'],
  ],
  ['assumed role with session key ASIAY34FZKBOKMUTVV7A', ['ASIAY34FZKBOKMUTVV7A']],
  [
    'remote: Invalid username or token ghp_16C7e42F292c6912E7710c838347Ae178B4a',
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
  ],
  [
    'oauth app token gho_16C7e42F292c6912E7710c838347Ae178B4a expired',
    ['gho_16C7e42F292c6912E7710c838347Ae178B4a'],
  ],
  [
    'GITHUB_TOKEN github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV rejected',
    ['github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV'],
  ],
  [
    'slack notify failed with xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
    ['xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx'],
  ],
  [
    'slack user token xoxp-2222222222-3333333333-444444444444-abcdef0123456789',
    ['xoxp-2222222222-3333333333-444444444444-abcdef0123456789'],
  ],
  [
    'maps call https://maps.googleapis.com/maps/api/geocode/json?key=AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe denied',
    ['AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe'],
  ],
  ['billing: invalid key sk_live_51H8xYzABCDEFghijklmnop', ['sk_live_51H8xYzABCDEFghijklmnop']],
  ['stripe test key sk_test_4eC39HqLyjWDarjtT1zdp7dc', ['sk_test_4eC39HqLyjWDarjtT1zdp7dc']],
  [
    `cert load failed: -----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY_1}\n${PEM_BODY_2}\n-----END RSA PRIVATE KEY----- (kid 7)`,
    [PEM_BODY_1, PEM_BODY_2],
  ],
  [
    `truncated key: -----BEGIN PRIVATE KEY-----\n${PEM_BODY_1}\n${PEM_BODY_2.slice(0, 20)}`,
    [PEM_BODY_1, PEM_BODY_2.slice(0, 20)],
  ],
  [
    `{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\\n${PEM_BODY_2}\\n-----END PRIVATE KEY-----\\n"}`,
    [PEM_BODY_2],
  ],
  ['request headers: Cookie: session=9f8e7d6c5b4a; csrftoken=AbC123xyz', ['9f8e7d6c5b4a', 'AbC123xyz']],
  ['Set-Cookie: .AspNetCore.Session=CfDJ8N0a1b2c3d4e5; path=/; secure; httponly', ['CfDJ8N0a1b2c3d4e5']],
  ['signing key 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c rejected', ['3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c']],
  [
    'HMAC signature: 5d41402abc4b2a76b9719d911017c592ab12cd34 mismatch',
    ['5d41402abc4b2a76b9719d911017c592ab12cd34'],
  ],
  ['refresh token QWxhZGRpbjpvcGVuIHNlc2FtZQ0K3xY9 was revoked', ['QWxhZGRpbjpvcGVuIHNlc2FtZQ0K3xY9']],
  ['x-api-key: 8c3f1e2d4b5a69788f7e6d5c4b3a2910', ['8c3f1e2d4b5a69788f7e6d5c4b3a2910']],
  ['Ocp-Apim-Subscription-Key: 0123456789abcdef0123456789abcdef', ['0123456789abcdef0123456789abcdef']],
  ['ENV DUMP: PGPASSWORD=HunTer2! DB_PASSWORD="Quoted Pw 9"', ['HunTer2!', 'Quoted Pw 9']],
  ['settings {"Password":"p@ss w0rd with spaces"}', ['p@ss w0rd with spaces']],
  ['logged body "{\\"client_secret\\":\\"abcDEF123456ghi\\"}"', ['abcDEF123456ghi']],
  ['soap fault <wsse:Password Type="PasswordText">Xml-Secr3t</wsse:Password>', ['Xml-Secr3t']],
  [
    'AADSTS7000215 using secret Xyz8Q~AbCdEfGhIjKlMnOpQrStUvWxYz01234567',
    ['Xyz8Q~AbCdEfGhIjKlMnOpQrStUvWxYz01234567'],
  ],
  [
    'jdbc:sqlserver://sql.example.com:1433;databaseName=ledger;user=sa;password=Sql$erverPwd1;encrypt=true',
    ['Sql$erverPwd1'],
  ],
  ['Server=tcp:x.database.windows.net,1433;User ID=ops;Password=Az$qlPw0rd;', ['Az$qlPw0rd']],
  ['cli ran with --password=cl1-pa55 --user=bob', ['cl1-pa55']],
  ['SECRET: TopS3cretValue', ['TopS3cretValue']],
  [
    'Authorization: token ghp_16C7e42F292c6912E7710c838347Ae178B4a',
    ['ghp_16C7e42F292c6912E7710c838347Ae178B4a'],
  ],
  // The Graph simulator's own client secrets.
  [
    'token request refused for client secret sim~Q2hhbmdlTWVQbGVhc2UxMjM0NTY3ODkwYWJjZGVmZ2g (AADSTS7000215)',
    ['Q2hhbmdlTWVQbGVhc2UxMjM0NTY3ODkwYWJjZGVmZ2g'],
  ],
  // Passphrases are words: every word of them goes.
  ['vault unlock failed: my passphrase = correct horse battery staple', ['correct', 'horse battery staple']],
  ['gpg: the passphrase is "open sesame now" (bad)', ['open sesame now', 'sesame now']],
  ['key import said my passphrase is purple monkey dishwasher', ['purple', 'monkey dishwasher']],
  ['restore failed: the password was "Winter 2026!" for svc-restore', ['Winter 2026!', '2026!']],
];

/** Ordinary messages that must come out byte-for-byte unchanged. */
export const ORDINARY: readonly string[] = [
  'sign-in failed: the password is incorrect',
  'password is required',
  'the password was reset by an administrator',
  'Restore of mailbox 3f2504e0-4f89-11d3-9a0c-0305e82c3301 for tenant 6ba7b810-9dad-11d1-80b4-00c04fd430c8 failed with 403 Forbidden',
  'Graph returned 429 Too Many Requests; retrying in 30 seconds',
  'Authorization_RequestDenied: Insufficient privileges to complete the operation.',
  'InvalidAuthenticationToken: Access token has expired or is not yet valid.',
  'Request_ResourceNotFound: Resource 8f14e45f-ceea-467f-a0b6-4c3c2d0e9a1b does not exist or one of its queried reference-property objects are not present.',
  'AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
  'GET https://graph.microsoft.com/v1.0/users/8f14e45f-ceea-467f-a0b6-4c3c2d0e9a1b/messages?$top=50&$skip=100 returned 503 Service Unavailable',
  'Operation 018f3c2e-7b1a-7cc2-9d2b-1c2d3e4f5a6b (run 2 of 5) timed out after 3600 seconds',
  'Token refresh scheduled in 300 seconds',
  'Password policy for tenant contoso.onmicrosoft.com requires 14 characters',
  'Bearer token missing from request',
  'Idempotency key tenant-42-restore-2024 already used',
  'Checkpoint saved at offset 1048576 of 5242880 bytes',
  'Uploaded 12 of 40 chunks to https://contoso.blob.core.windows.net/backups/run-7.tar',
  'ErrorItemNotFound: The specified object was not found in the store.',
  'ECONNRESET while reading from 10.0.0.12:5432',
  'Code: TooManyRequests Message: Rate limit exceeded. Retry-After: 17',
  'Session expired for user alice@contoso.com',
  'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token responded 400 invalid_grant',
  'redis://cache.internal:6379/0 is unreachable',
  'postgres://db.internal:5432/opsledger connection timed out',
  'Run 42 finished: 1200 items copied, 3 skipped, 0 failed',
  '{"code":"itemNotFound","message":"The resource could not be found.","innerError":{"request-id":"5c1f7e0a-1b2c-4d3e-8f90-a1b2c3d4e5f6"}}',
  'delta sync saved nextLink https://graph.microsoft.com/v1.0/users/delta?$deltatoken=RFNwdAIAAQAAAB8wOjEyMzQ1Njc4OQ as checkpoint',
  'Key Vault secret name: ops-ledger-db, version 7, token_type=Bearer, expires_in=3599',
];
