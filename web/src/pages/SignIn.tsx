import { Alert, Button, Center, Paper, PasswordInput, Stack, TextInput, Title } from '@mantine/core';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate, useSearch } from '@tanstack/react-router';
import { useState } from 'react';
import { api, ok, setCsrfToken } from '../api/client.ts';
import { keys, SIGNED_IN_KEY } from '../api/queries.ts';

export function SignInPage() {
  const { next } = useSearch({ from: '/sign-in' });
  const navigate = useNavigate();
  const client = useQueryClient();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const login = useMutation({
    mutationFn: () => ok(api.POST('/api/v1/auth/login', { body: { email, password } })),
    onSuccess: async (me) => {
      setCsrfToken(me.csrfToken);
      localStorage.setItem(SIGNED_IN_KEY, '1');
      client.clear();
      client.setQueryData(keys.me, me);
      await navigate({ to: next ?? '/' });
    },
  });
  return (
    <Center mih="100vh" p="md" component="main">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={380}>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            login.mutate();
          }}
        >
          <Stack>
            <Title order={1} size="h2">
              Sign in to Opsledger
            </Title>
            {login.isError && (
              <Alert color="red.9" role="alert" title="Sign-in failed">
                {login.error.message}
              </Alert>
            )}
            <TextInput
              label="Email"
              type="email"
              autoComplete="username"
              required
              value={email}
              onChange={(e) => setEmail(e.currentTarget.value)}
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.currentTarget.value)}
            />
            <Button type="submit" loading={login.isPending}>
              Sign in
            </Button>
          </Stack>
        </form>
      </Paper>
    </Center>
  );
}
