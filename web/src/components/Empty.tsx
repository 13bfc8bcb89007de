import { Alert, Group, Loader, Paper, Text } from '@mantine/core';
import type { UseQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';

/** Loading, error and empty states of one read, the same on every page. */
export function QueryState<T>({
  q,
  what,
  empty,
  children,
}: {
  q: UseQueryResult<T>;
  what: string;
  empty: (data: T) => string | null;
  children: (data: T) => ReactNode;
}) {
  if (q.isPending)
    return (
      <Group justify="center" p="lg">
        <Loader aria-label={`Loading ${what}`} />
      </Group>
    );
  if (q.isError)
    return (
      <Alert color="red.9" role="alert" title={`The ${what} could not be loaded`}>
        {q.error.message}
      </Alert>
    );
  const message = empty(q.data);
  if (message)
    return (
      <Paper withBorder p="lg" ta="center">
        <Text>{message}</Text>
      </Paper>
    );
  return <>{children(q.data)}</>;
}
