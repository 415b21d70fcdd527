//! Images over the wire: a vision provider sends the user's image inline to its vendor, any
//! other provider sends the turn's text alone.

use chatbox_core::ports::llm::{ChatMessage, ChatRequest, ImagePart};
use chatbox_llm::ProviderKind;

use crate::fixture::{VENDORS, collect, setup, setup_with};

fn with_image() -> ChatRequest {
    let image = ImagePart {
        mime_type: "image/png".into(),
        data: bytes::Bytes::from_static(b"\x89PNG\r\n\x1a\n"),
    };
    ChatRequest {
        system_prompt: None,
        messages: vec![
            ChatMessage::user("[file: parcel.png, image/png, 8 B]\nIs this damaged?")
                .with_image(image),
        ],
        conversation_key: "session-1".into(),
        user_key: "user-1".into(),
    }
}

#[tokio::test]
async fn vision_providers_send_the_image_bytes_to_the_vendor() {
    let (fake, provider) = setup_with(ProviderKind::Openai, |c| c.vision = true).await;
    assert!(provider.supports_images());
    let outcome = collect(&*provider, with_image()).await;
    assert_eq!(
        outcome.texts.concat(),
        "echo: [file: parcel.png, image/png, 8 B]\nIs this damaged?"
    );
    let body = fake.chat_requests()[0].json().unwrap();
    assert_eq!(
        body["messages"][0]["content"][1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgo="
    );

    let (fake, provider) = setup_with(ProviderKind::Anthropic, |c| c.vision = true).await;
    assert!(provider.supports_images());
    collect(&*provider, with_image()).await.end.unwrap();
    let body = fake.chat_requests()[0].json().unwrap();
    let block = &body["messages"][0]["content"][0];
    assert_eq!(block["type"], "image");
    assert_eq!(block["source"]["media_type"], "image/png");
    assert_eq!(block["source"]["data"], "iVBORw0KGgo=");
}

#[tokio::test]
async fn other_providers_send_the_text_alone() {
    for kind in VENDORS {
        let (fake, provider) = setup(kind).await;
        assert!(!provider.supports_images(), "{kind:?}");
        collect(&*provider, with_image()).await.end.unwrap();
        let body = String::from_utf8_lossy(&fake.chat_requests()[0].body).into_owned();
        assert!(body.contains("Is this damaged?"), "{kind:?}");
        assert!(
            !body.contains("base64") && !body.contains("iVBOR"),
            "{kind:?}: {body}"
        );
    }
}
