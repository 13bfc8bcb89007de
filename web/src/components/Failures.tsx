import { Badge, Group, Paper, Spoiler, Stack, Text, Title } from '@mantine/core';
import type { Run } from '../api/client.ts';

type FailureGroup = { code: string; messages: string[] };

/** Failures grouped by code, most frequent first, with how many of each. */
export function groupFailures(failures: Run['failureSummary']): FailureGroup[] {
  const byCode = new Map<string, string[]>();
  for (const f of failures) byCode.set(f.code, [...(byCode.get(f.code) ?? []), failureText(f)]);
  return [...byCode.entries()]
    .map(([code, messages]) => ({ code, messages }))
    .sort((a, b) => b.messages.length - a.messages.length);
}

/** A failure's message with the item it concerns and the attempt it belongs to. */
function failureText(f: Run['failureSummary'][number]): string {
  return `${f.item ? `${f.item}: ` : ''}${f.message}${f.attempt ? ` (attempt ${f.attempt})` : ''}`;
}

/** One message: long ones fold to a few lines with "Show more". */
function Message({ text }: { text: string }) {
  return (
    <Spoiler maxHeight={66} showLabel="Show more" hideLabel="Show less">
      <Text size="sm" style={{ overflowWrap: 'anywhere', whiteSpace: 'pre-wrap' }}>
        {text}
      </Text>
    </Spoiler>
  );
}

/** What went wrong, grouped by failure code with counts; each message readable and expandable. */
export function Failures({ run }: { run: Run }) {
  const groups = groupFailures(run.failureSummary);
  if (groups.length === 0) return null;
  return (
    <Paper withBorder p="md" data-testid="failures">
      <Title order={2} size="h4" mb="sm">
        Failures ({run.failureSummary.length})
      </Title>
      <Stack gap="sm">
        {groups.map((g) => (
          <div key={g.code} data-testid="failure-group" data-code={g.code}>
            <Group gap="xs" mb={4}>
              <span className="failure-code">{g.code}</span>
              <Badge variant="light" color="gray" size="sm" autoContrast>
                {g.messages.length} {g.messages.length === 1 ? 'time' : 'times'}
              </Badge>
            </Group>
            <Stack gap={4}>
              <Message text={g.messages[0]!} />
              {g.messages.length > 1 && (
                <Spoiler
                  maxHeight={0}
                  showLabel={`Show ${g.messages.length - 1} more`}
                  hideLabel="Show fewer"
                >
                  <Stack gap={4}>
                    {g.messages.slice(1).map((m, i) => (
                      // biome-ignore lint/suspicious/noArrayIndexKey: messages of one code may repeat
                      <Message key={i} text={m} />
                    ))}
                  </Stack>
                </Spoiler>
              )}
            </Stack>
          </div>
        ))}
      </Stack>
    </Paper>
  );
}
